//! The blob store on real files: one damaged blob costs only itself, leftovers of dead
//! writers are cleaned, old sled stores are migrated, read-only opening writes nothing.

use std::path::{Path, PathBuf};

use trustfold_events::*;

fn object_file(root: &Path, hash: &BlobHash) -> PathBuf {
    let hex = hash.to_hex();
    root.join("objects").join(&hex[..2]).join(&hex[2..])
}

/// Every file under `root`, as paths relative to it.
fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn one_flipped_byte_costs_that_blob_only_and_storing_it_again_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let blobs = BlobStore::open(&root).unwrap();
    let payloads: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("{{\"payload\":{i},\"pad\":\"{}\"}}", "x".repeat(100 * i)).into_bytes())
        .collect();
    let hashes: Vec<BlobHash> = payloads.iter().map(|p| blobs.put(p).unwrap()).collect();
    assert_eq!(blobs.len(), 5);

    let victim = object_file(&root, &hashes[2]);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[7] ^= 0x20;
    std::fs::write(&victim, &bytes).unwrap();

    // The store still opens; the other blobs read; the damaged one is refused by name.
    let blobs = BlobStore::open(&root).unwrap();
    for (i, hash) in hashes.iter().enumerate() {
        match blobs.get(hash) {
            Ok(b) => assert_eq!(b, payloads[i], "blob {i}"),
            Err(BlobError::Corrupt { hash: h, .. }) => assert_eq!((i, h), (2, *hash)),
            Err(e) => panic!("blob {i}: {e}"),
        }
    }
    let bad = blobs.verify_all().unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(matches!(&bad[0], BlobError::Corrupt { hash, .. } if *hash == hashes[2]));
    assert!(bad[0].is_integrity());

    // New payloads keep going in.
    let fresh = blobs.put(b"{\"new\":true}").unwrap();
    assert_eq!(blobs.get(&fresh).unwrap(), b"{\"new\":true}");

    // The same payload stored again (a re-import) writes the file again.
    assert_eq!(blobs.put(&payloads[2]).unwrap(), hashes[2]);
    assert_eq!(blobs.get(&hashes[2]).unwrap(), payloads[2]);
    assert!(blobs.verify_all().unwrap().is_empty());
}

#[test]
fn a_write_interrupted_by_a_dead_process_is_removed_on_open_but_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let hash = BlobStore::open(&root).unwrap().put(b"kept").unwrap();

    // A writer that died mid-write left an unlocked file; a live one holds its lock.
    let dead = root.join("tmp").join("4242-dead");
    std::fs::write(&dead, b"half a payl").unwrap();
    let live = root.join("tmp").join("4243-live");
    let live_file = std::fs::File::create(&live).unwrap();
    live_file.lock().unwrap();

    let blobs = BlobStore::open(&root).unwrap();
    assert!(!dead.exists(), "the dead writer's file is removed");
    assert!(live.exists(), "a live writer's file is left alone");
    assert_eq!(blobs.get(&hash).unwrap(), b"kept");
    drop(live_file);
    drop(blobs);
    BlobStore::open(&root).unwrap();
    assert!(!live.exists(), "removed once its writer is gone");
    assert_eq!(
        files(&root),
        vec![
            "FORMAT".to_string(),
            object_file(Path::new(""), &hash).display().to_string()
        ]
    );
}

#[test]
fn an_old_sled_store_is_migrated_on_open_keeping_a_damaged_blob_as_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let good = b"{\"places\":[1,2,3]}".to_vec();
    let big = vec![b'z'; 200_000]; // sled keeps values this large in its own `blobs/` dir
    let altered = b"{\"places\":[9]}".to_vec();
    let altered_key = Hash32::of(b"{\"places\":[8]}");
    {
        let db = sled::open(&root).unwrap();
        db.insert(Hash32::of(&good).0, good.as_slice()).unwrap();
        db.insert(Hash32::of(&big).0, big.as_slice()).unwrap();
        db.insert(altered_key.0, altered.as_slice()).unwrap();
        db.flush().unwrap();
    }
    // A snapshot a full disk left unfinished: sled alone would call the store damaged.
    std::fs::write(root.join("snap.000000000000DEAD.generating"), b"").unwrap();

    let blobs = BlobStore::open(&root).unwrap();
    assert_eq!(blobs.get(&Hash32::of(&good)).unwrap(), good);
    assert_eq!(blobs.get(&Hash32::of(&big)).unwrap(), big);
    assert!(matches!(
        blobs.get(&altered_key),
        Err(BlobError::Corrupt { .. })
    ));
    assert_eq!(blobs.len(), 3);
    let left: Vec<String> = files(&root)
        .into_iter()
        .filter(|f| !f.starts_with("objects/") && f != "FORMAT" && f != ".migrate.lock")
        .collect();
    assert!(left.is_empty(), "sled's files are gone: {left:?}");
    drop(blobs);
    // Opening again is a plain open.
    assert_eq!(BlobStore::open(&root).unwrap().len(), 3);
}

#[test]
fn read_only_opening_writes_nothing_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let ro = BlobStore::open_read_only(&root).unwrap();
    assert!(!root.exists(), "opening for reading creates nothing");
    assert!(matches!(
        ro.get(&Hash32::of(b"x")),
        Err(BlobError::Missing(_))
    ));
    let hash = BlobStore::open(&root).unwrap().put(b"x").unwrap();
    let before = files(&root);
    let ro = BlobStore::open_read_only(&root).unwrap();
    assert_eq!(ro.get(&hash).unwrap(), b"x");
    let err = ro.put(b"y").unwrap_err();
    assert!(matches!(err, BlobError::ReadOnly { .. }), "{err}");
    assert!(!err.is_bad_input() && !err.is_integrity());
    assert_eq!(files(&root), before);

    // An old store cannot be read without migrating it, which needs write access.
    let old = dir.path().join("old");
    sled::open(&old).unwrap().flush().unwrap();
    let err = BlobStore::open_read_only(&old).unwrap_err();
    assert!(err.to_string().contains("sled"), "{err}");
}

#[test]
fn a_directory_that_is_not_a_blob_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("holiday.jpg"), b"...").unwrap();
    let err = BlobStore::open(&root).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("holiday.jpg"), "{err}");
    std::fs::remove_file(root.join("holiday.jpg")).unwrap();
    std::fs::write(root.join("FORMAT"), "trustfold-blobs 9\n").unwrap();
    let err = BlobStore::open(&root).unwrap_err();
    assert!(err.to_string().contains("newer trustfold"), "{err}");
}
