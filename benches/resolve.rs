fn main() {
    println!("resolve benchmark: not written yet");
}
