//! The `p2pchat` command.

fn main() {
    println!("p2pchat: the wire codec is built; the chat node is not yet.");
}
