use ragplay::cancel::never;
use ragplay::embed::{EncodeOptions, Encoder, EncoderOptions};
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(64);
    let bs: usize = std::env::args()
        .nth(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let enc = Encoder::from_pretrained(&dir, &EncoderOptions::default()).unwrap();
    let e = enc
        .encode(
            &["A man is eating food.", "A man is eating a piece of bread."],
            &EncodeOptions::default(),
            never(),
        )
        .unwrap();
    let cos: f32 = e.row(0).iter().zip(e.row(1)).map(|(a, b)| a * b).sum();
    println!("cos {cos}");
    let corpus =
        ragplay::data::beir::load_beir(std::path::Path::new("../shared/data/scifact"), "test")
            .unwrap();
    let texts = ragplay::embed::corpus_texts(&corpus.corpus).unwrap();
    let refs: Vec<&str> = texts.iter().take(n).map(|s| s.as_str()).collect();
    let t = std::time::Instant::now();
    let e = enc
        .encode(
            &refs,
            &EncodeOptions {
                batch_size: bs,
                ..Default::default()
            },
            never(),
        )
        .unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{} texts in {dt:.2}s = {:.1} texts/s, truncated {}",
        n,
        n as f64 / dt,
        e.truncated.len()
    );
}
