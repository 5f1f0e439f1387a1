#!/usr/bin/env python3
"""A model of how the mesh forms when every node joins through the first.

It follows the node's rules for admitting links, peer exchange and
dialing (src/node/peers.rs, dial_book.rs, membership.rs), with links that
open after a fixed delay and nothing else, and counts the runs in which
the network ends in more than one piece. It shows, in seconds rather
than hours of 100-process runs, whether a change to those rules keeps
the network whole:

    benches/join_model.py --rules old --runs 400   # about one run in ten splits
    benches/join_model.py --rules new --runs 400   # none

"old" is the rules before version 8 of the protocol: a full node drops its
longest-standing link for any newcomer, a node dials only below its
target, and addresses are dialed in the order of node ids. "new" is the
rules now: a full node drops a random link, and only for a link the other
end needs; a lost link is replaced even at the target (three tries, one at
a time), and equally good addresses are dialed in random order.
"""

import argparse
import heapq
import random

TARGET, MAX = 4, 8
DEFER = 1.0  # the higher id waits this long before dialing one it just learned of
OPEN = 0.003  # seconds a connection takes to open and handshake
REPLACE_TRIES = 3


class Node:
    def __init__(self, node_id):
        self.id = node_id
        self.peers = {}  # peer -> when admitted
        self.book = {}  # node -> [failures, when it may be dialed]
        self.dialing = set()
        self.to_replace = 0


class Mesh:
    def __init__(self, n, rules, seed, every):
        self.rng = random.Random(seed)
        self.new = rules == "new"
        self.nodes = [Node(self.rng.getrandbits(63)) for _ in range(n)]
        self.started = [False] * n
        self.events = []
        self.count = 0
        for i in range(n):
            self.at(i * every, "start", i)
        self.end = n * every + 3.0

    def at(self, when, kind, *args):
        self.count += 1
        heapq.heappush(self.events, (when, self.count, kind, args))

    def remember(self, x, y, now):
        if x != y and y not in self.nodes[x].book:
            lower = self.nodes[x].id < self.nodes[y].id
            self.nodes[x].book[y] = [0, now if lower else now + DEFER]

    def lose(self, x, y, now):
        """`x` lost its link to `y`."""
        node = self.nodes[x]
        del node.peers[y]
        if self.new:
            node.to_replace = min(node.to_replace + REPLACE_TRIES, REPLACE_TRIES * MAX)
        self.at(now, "dial", x)

    def admit(self, x, y, needed, now):
        """`x` takes a link from `y`, or refuses it."""
        node = self.nodes[x]
        if len(node.peers) >= MAX:
            if self.new and not needed:
                return False
            if self.new:
                victim = self.rng.choice(sorted(node.peers))
            else:
                victim = min(node.peers, key=node.peers.get)
            del node.peers[victim]
            self.lose(victim, x, now)
        else:
            node.to_replace = max(0, node.to_replace - REPLACE_TRIES)
        for p in node.peers:
            # Each learns of the other; a node below its target dials.
            self.remember(y, p, now)
            self.remember(p, y, now)
            self.at(now, "dial", p)
        node.peers[y] = now
        return True

    def connect(self, x, y, needed, now):
        """`x` dialed `y`: both decide whether to keep the link."""
        node = self.nodes[x]
        node.dialing.discard(y)
        # Whether y needs the link, as its HELLO says, sent before it decides.
        answer = len(self.nodes[y].peers) < TARGET
        if y in node.peers:
            pass
        elif self.admit(y, x, needed, now):
            if not self.admit(x, y, answer, now):
                self.lose(y, x, now)
        else:
            failures = node.book[y][0] = node.book[y][0] + 1
            node.book[y][1] = now + min(0.25 * 2 ** min(failures, 8), 8)
        self.at(now, "dial", x)

    def dial(self, x, now):
        node = self.nodes[x]
        busy = len(node.peers) + len(node.dialing)
        wanted = TARGET - busy
        replacing = (self.new and wanted <= 0 and node.to_replace > 0
                     and not node.dialing and len(node.peers) < MAX)
        if replacing:
            wanted = 1
        due = [(k[0], self.rng.random() if self.new else self.nodes[y].id, y)
               for y, k in node.book.items()
               if y not in node.peers and y not in node.dialing and k[1] <= now]
        due.sort()
        for _, _, y in due[:max(wanted, 0)]:
            if replacing:
                node.to_replace -= 1
            node.dialing.add(y)
            self.at(now + OPEN, "connect", x, y, len(node.peers) < TARGET)
        later = [k[1] for y, k in node.book.items()
                 if y not in node.peers and y not in node.dialing and k[1] > now]
        if later and (wanted > 0 or replacing):
            self.at(min(later), "dial", x)

    def run(self):
        while self.events:
            when, _, kind, args = heapq.heappop(self.events)
            if when > self.end:
                break
            if kind == "start":
                (i,) = args
                self.started[i] = True
                if i > 0:  # joins through the first node
                    self.nodes[i].book[0] = [0, when]
                    self.nodes[i].dialing.add(0)
                    self.at(when + OPEN, "connect", i, 0, True)
            elif kind == "connect":
                self.connect(*args, when)
            else:
                self.dial(*args, when)
        return self.pieces()

    def pieces(self):
        seen, pieces = set(), 0
        for start in range(len(self.nodes)):
            if start in seen:
                continue
            pieces += 1
            stack = [start]
            seen.add(start)
            while stack:
                for p in self.nodes[stack.pop()].peers:
                    if p not in seen:
                        seen.add(p)
                        stack.append(p)
        return pieces


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", choices=["old", "new"], default="new")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--every", type=float, default=0.01,
                        help="seconds between two nodes' starts")
    args = parser.parse_args()
    split = sum(Mesh(args.nodes, args.rules, seed, args.every).run() > 1
                for seed in range(args.runs))
    print(f"{args.rules} rules, {args.nodes} nodes joining through the first: "
          f"split in {split} of {args.runs} runs")


if __name__ == "__main__":
    main()
