fn main() {
    println!("ringvs");
}
