//! Reliability at the storage edge (issue 11): a full disk, damaged or missing stores,
//! read-only media, a stop request in every stage, orphans, duplicate ids, long names,
//! forged rows and an anchored head. Each test is named after what it guarantees.
//!
//! The disk faults are real: a small tmpfs mounted for the test (and unmounted by a guard,
//! also when the test fails), remounted read-only or grown. Mounting needs root; elsewhere
//! those tests say so and skip, except under `CI=true`, where they must run.

use super::*;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "3m") at `dir`. Returns `None`, after saying why,
    /// where mounting is not possible, unless `CI=true`: there it is a failure.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "cannot mount a tmpfs at {}: {why} (CI runs these tests as root)",
                    dir.display()
                );
                eprintln!(
                    "skipped: cannot mount a tmpfs ({why}); run as root to test storage faults"
                );
                None
            }
        }
    }

    /// `mount -o remount,<options>`, e.g. "ro" or "size=64m".
    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }

    /// Bytes free, as `df` sees them.
    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .unwrap();
        stdout(&out)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap()
    }

    /// Fills the file system until `leave` bytes are free (a filler file, removed by
    /// [`Tmpfs::unfill`]).
    fn fill(&self, leave: u64) {
        let free = self.free_bytes();
        let n = free.saturating_sub(leave);
        std::fs::write(self.dir.join("filler"), vec![b'f'; n as usize]).unwrap();
    }

    fn unfill(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // A process of the test still holds a file: detach now, freed when it exits.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// A scratch data dir on a fresh tmpfs of `size`; `None` where mounting is not possible.
fn on_tmpfs(size: &str) -> Option<(Tmpfs, Scratch)> {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let fs = Tmpfs::mount(&mnt, size)?;
    let data = mnt.join("data");
    Some((
        fs,
        Scratch {
            _tmp: tmp,
            data,
            pg: None,
        },
    ))
}

/// A CSV of `n` venues with ids `<prefix>-<i>`; each row carries `pad` bytes in an
/// unmapped `notes` column (to make a file large without making many records).
fn venues_csv(prefix: &str, n: usize, pad: usize) -> String {
    let mut csv = String::from("id,name,addr,city,pc,phone,lat,lon,notes\n");
    for i in 0..n {
        csv.push_str(&format!(
            "{prefix}-{i},{prefix} Sports Hall {i},{i} Test Road,Edinburgh,EH{} {}AB,,{:.5},{:.5},{}\n",
            1 + i % 17,
            i % 9,
            55.90 + (i % 1000) as f64 / 10_000.0,
            -3.20 - (i / 1000) as f64 / 1000.0,
            "n".repeat(pad)
        ));
    }
    csv
}

/// Imports `csv` (written next to the data dir as `name`) with the test map.
fn import_csv(dir: &Scratch, name: &str, csv: &str, extra: &[&str]) -> Output {
    let path = write(dir, name, csv.as_bytes());
    let mut args = vec![
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
    ];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    dir.tf(&args)
}

/// The last run of the log: its id and its events.
fn last_run(dir: &Scratch) -> (String, Vec<Value>) {
    let started = dir.events_of_kind("RunStarted");
    let run_id = started.last().expect("a run")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = dir.run_events(&run_id);
    (run_id, events)
}

/// Files under `<data>/blobs/tmp` (writes in progress or left behind).
fn blob_leftovers(dir: &Scratch) -> Vec<PathBuf> {
    let tmp = dir.data.join("blobs/tmp");
    if !tmp.exists() {
        return Vec::new();
    }
    walk(&tmp)
}

/// The file of a blob, by its hex hash.
fn blob_file(dir: &Scratch, hash: &str) -> PathBuf {
    dir.data
        .join("blobs/objects")
        .join(&hash[..2])
        .join(&hash[2..])
}

// 1. A full disk ends an import promptly, with RunFailed, nothing half-written.

#[test]
fn a_full_disk_ends_an_import_with_run_failed_within_seconds_and_the_import_succeeds_once_space_is_freed(
) {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let Some((fs, dir)) = on_tmpfs("3m") else {
        return;
    };
    assert_success(&dir.tf(&["ingest", SEED]));
    let before = dir.event_count();
    // 3.2 MB: as large as the sportscotland register, larger than the whole disk.
    let csv = venues_csv("REG", 400, 8000);
    let path = write(&dir, "register.csv", csv.as_bytes());
    let started = Instant::now();
    let import = dir.spawn(
        dir.tf_cmd(&[
            "import",
            "--source",
            "council_sheet",
            "--format",
            "csv",
            "--map",
            MAP,
            path.to_str().unwrap(),
        ]),
        "import-full",
    );
    let out = import.wait_for_exit(Duration::from_secs(30));
    let took = started.elapsed();
    assert_exit(&out, 1);
    assert!(took < Duration::from_secs(10), "ended in {took:?}");
    assert!(stderr(&out).contains("disk full"), "{}", stderr(&out));

    let (run_id, events) = last_run(&dir);
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "RunFailed", "{:?}", kinds(&events));
    let error = last["payload"]["error"].as_str().unwrap();
    assert!(error.contains("disk full"), "{error}");
    assert!(
        !events.iter().any(|e| e["kind"] == "ConnectorResponded"),
        "no event names a payload that was not stored"
    );
    assert_eq!(
        dir.event_count(),
        before + 2,
        "RunStarted and RunFailed only"
    );
    assert!(
        blob_leftovers(&dir).is_empty(),
        "{:?}",
        blob_leftovers(&dir)
    );
    assert_eq!(run_row(&dir, &run_id)["status"], "failed");

    // Other commands do not wait for anything, and the data is intact.
    let started = Instant::now();
    assert_success(&dir.tf(&["verify"]));
    assert_success(&dir.tf(&["runs"]));
    assert!(started.elapsed() < Duration::from_secs(10));

    fs.remount("size=64m");
    assert_success(&dir.tf(&["verify"]));
    let out = import_csv(&dir, "register.csv", &csv, &["--json"]);
    assert_success(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["figures"]["candidates_found"], 400);
    assert_success(&dir.tf(&["verify"]));
    assert_every_run_ends_once(&dir);
}

#[test]
fn a_disk_that_fills_during_the_stages_rolls_the_batch_back_and_records_run_failed() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let Some((fs, dir)) = on_tmpfs("8m") else {
        return;
    };
    assert_success(&dir.tf(&["ingest", SEED]));
    let before = dir.kind_counts();
    // A small file whose 6,000 extraction events do not fit once the disk is nearly full.
    let csv = venues_csv("BIG", 6000, 0);
    fs.fill(1_700_000);
    let out = import_csv(&dir, "big.csv", &csv, &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("disk full"), "{}", stderr(&out));
    let (run_id, events) = last_run(&dir);
    assert_eq!(
        events.last().unwrap()["kind"],
        "RunFailed",
        "{:?}",
        kinds(&events)
    );
    let after = dir.kind_counts();
    assert_eq!(
        after.get("CandidateExtracted"),
        before.get("CandidateExtracted"),
        "the extraction batch is all or nothing"
    );
    assert_success(&dir.tf(&["verify"]));

    fs.unfill();
    fs.remount("size=64m");
    assert_success(&dir.tf(&["verify"]));
    assert_eq!(run_row(&dir, &run_id)["status"], "failed");
    let again = import_csv(&dir, "big.csv", &csv, &["--json"]);
    assert_success(&again);
    assert_success(&dir.tf(&["verify"]));
    assert_every_run_ends_once(&dir);
}

// 2. Commands run while the disk is full never leave the blob store unopenable.

#[test]
fn commands_run_while_the_disk_is_full_say_disk_full_and_leave_every_store_openable() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let Some((fs, dir)) = on_tmpfs("6m") else {
        return;
    };
    assert_success(&dir.tf(&["ingest", SEED]));
    let entities = dir.entities();
    fs.fill(64 * 1024);
    for args in [
        &["ingest", "tennis edinburgh"][..],
        &[
            "import",
            "--source",
            "council_sheet",
            "--format",
            "csv",
            "--map",
            MAP,
        ][..],
    ] {
        let mut args = args.to_vec();
        let file;
        if args[0] == "import" {
            file = write(&dir, "one.csv", venues_csv("ONE", 3, 0).as_bytes());
            args.push(file.to_str().unwrap());
        }
        let out = dir.tf(&args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("disk full"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Reading works on the full disk, and leaves nothing behind.
    assert_success(&dir.tf(&["verify"]));
    assert_eq!(dir.entities(), entities);
    assert!(
        blob_leftovers(&dir).is_empty(),
        "{:?}",
        blob_leftovers(&dir)
    );

    fs.unfill();
    assert_success(&dir.tf(&["verify"]));
    assert_success(&dir.tf(&["ingest", "tennis edinburgh"]));
    assert_success(&dir.tf(&["verify"]));
    assert_every_run_ends_once(&dir);
}

#[test]
fn an_old_sled_blob_store_with_an_unfinished_snapshot_is_migrated_not_refused() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let entities = dir.entities();
    // Turn the blob store back into the sled store an older trustfold wrote, with the
    // 0-byte snapshot a command run on a full disk left behind.
    let blobs = dir.data.join("blobs");
    let objects: Vec<(Vec<u8>, Vec<u8>)> = walk(&blobs.join("objects"))
        .into_iter()
        .map(|f| {
            let hex = format!(
                "{}{}",
                f.parent().unwrap().file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            );
            let key = (0..32)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            (key, std::fs::read(&f).unwrap())
        })
        .collect();
    assert!(!objects.is_empty());
    std::fs::remove_dir_all(&blobs).unwrap();
    {
        let db = sled::open(&blobs).unwrap();
        for (k, v) in &objects {
            db.insert(k.as_slice(), v.as_slice()).unwrap();
        }
        db.flush().unwrap();
    }
    std::fs::write(blobs.join("snap.00000000000040BC.generating"), b"").unwrap();

    let out = dir.tf(&["verify"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("{} blobs checked", objects.len())),
        "{}",
        stdout(&out)
    );
    assert!(!blobs.join("db").exists(), "sled's files are gone");
    assert_eq!(dir.entities(), entities);
    assert_success(&dir.tf(&["ingest", "tennis edinburgh"]));
    assert_success(&dir.tf(&["verify"]));
}

// 3. A log deleted or emptied beside the data it produced is refused, never recreated.

#[test]
fn a_deleted_or_emptied_log_beside_blobs_and_projections_is_refused_with_exit_3() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let n = dir.event_count();
    let log = dir.log();
    let saved = dir._tmp.path().join("log.backup");
    // A consistent copy: checkpoint the WAL into the main file first.
    sqlite(&log)
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    std::fs::copy(&log, &saved).unwrap();

    for how in ["deleted", "emptied"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", log.display()));
        }
        if how == "emptied" {
            std::fs::write(&log, b"").unwrap();
        }
        for args in [
            &["verify"][..],
            &["events"][..],
            &["ingest", SEED][..],
            &["entities"][..],
            &["rebuild-projections"][..],
        ] {
            let out = dir.tf(args);
            assert_exit(&out, 3);
            let err = stderr(&out);
            assert!(err.contains("log.sqlite3"), "{how} {args:?}: {err}");
            assert!(
                err.contains(&format!("projections folded up to seq {n}")),
                "{how} {args:?}: {err}"
            );
            assert!(err.contains("blob store with"), "{how} {args:?}: {err}");
        }
        let size = std::fs::metadata(&log).map(|m| m.len()).ok();
        assert_eq!(
            size,
            (how == "emptied").then_some(0),
            "{how}: no new log was started"
        );
    }
    std::fs::copy(&saved, &log).unwrap();
    assert_success(&dir.tf(&["verify"]));
    assert_eq!(dir.event_count(), n);

    // A new data dir is still created implicitly, also with only settings in it.
    let fresh = setup();
    std::fs::create_dir_all(&fresh.data).unwrap();
    std::fs::write(fresh.data.join("trust.toml"), shipped_policy()).unwrap();
    assert_success(&fresh.tf(&["verify"]));
    assert_success(&fresh.tf(&["ingest", SEED]));
}

// 4. One corrupt blob is named with every event naming it; new data keeps coming in.

#[test]
fn one_corrupt_blob_is_named_with_every_event_naming_it_and_ingests_keep_working() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let csv = venues_csv("CB", 12, 0);
    assert_success(&import_csv(&dir, "club.csv", &csv, &[]));
    let (_, events) = last_run(&dir);
    let response = events
        .iter()
        .find(|e| e["kind"] == "ConnectorResponded")
        .unwrap();
    let hash = response["payload"]["payload_hash"].as_str().unwrap();
    let naming: Vec<u64> = ndjson(&dir.tf(&["events", "--json"]))
        .iter()
        .filter(|e| e.to_string().contains(hash))
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(naming.len(), 13, "the response and 12 candidates name it");

    let file = blob_file(&dir, hash);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[40] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let out = dir.tf(&["verify"]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains(hash), "{err}");
    assert!(
        err.contains(&format!("seq {}:", naming[0])) && err.contains("13 events"),
        "{err}"
    );
    let json = dir.tf(&["verify", "--json"]);
    assert_exit(&json, 3);
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["intact"], false);
    assert_eq!(doc["first_bad_seq"], naming[0]);
    let problem = &doc["problems"][0];
    assert_eq!(problem["kind"], "blob");
    assert_eq!(problem["fault"], "corrupt");
    assert_eq!(problem["blob"], hash);
    assert_eq!(problem["seqs"], serde_json::json!(naming));

    // New data keeps coming in, and reading the damaged payload names it.
    assert_success(&dir.tf(&["ingest", "tennis edinburgh"]));
    assert_success(&import_csv(&dir, "other.csv", &venues_csv("OT", 3, 0), &[]));
    // Importing the same file again stores its bytes again: the damage is repaired.
    assert_success(&import_csv(&dir, "club.csv", &csv, &[]));
    assert_success(&dir.tf(&["verify"]));
}

// 5. Read-only media: a backup verifies and reads; only writers need write access.

#[test]
fn a_data_dir_on_read_only_media_verifies_and_reads_and_writers_fail_with_exit_1() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let Some((fs, dir)) = on_tmpfs("16m") else {
        return;
    };
    assert_success(&dir.tf(&["ingest", SEED]));
    assert_success(&import_csv(&dir, "club.csv", &venues_csv("RO", 5, 0), &[]));
    let slug = best_sourced(&dir.entities())["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let run_id = dir.runs()[0]["run_id"].as_str().unwrap().to_string();
    let reads: Vec<Vec<&str>> = vec![
        vec!["verify"],
        vec!["verify", "--json"],
        vec!["head"],
        vec!["entities", "--json"],
        vec!["events", "--json"],
        vec!["runs", "--json"],
        vec!["report", &run_id, "--json"],
        vec!["provenance", &slug, "--json"],
        vec!["conflicts", "--json"],
    ];
    let before: Vec<String> = reads
        .iter()
        .map(|args| {
            let out = dir.tf(args);
            assert_success(&out);
            stdout(&out)
        })
        .collect();

    for media in ["a read-only mount", "immutable files (chattr +i)"] {
        if media.starts_with("immutable") {
            fs.remount("rw");
            let status = Command::new("chattr")
                .arg("-R")
                .arg("+i")
                .arg(&dir.data)
                .status()
                .unwrap();
            assert!(status.success(), "chattr");
        } else {
            fs.remount("ro");
        }
        for (args, expected) in reads.iter().zip(&before) {
            let out = dir.tf(args);
            assert_success(&out);
            if args[0] != "verify" {
                assert_eq!(&stdout(&out), expected, "{media}: {args:?}");
            }
            assert!(
                !stderr(&out).contains("unable to open"),
                "{media}: {args:?}: {}",
                stderr(&out)
            );
        }
        for args in [&["ingest", SEED][..], &["rebuild-projections"][..]] {
            let out = dir.tf(args);
            assert_exit(&out, 1);
        }
        let n = dir.event_count();
        assert!(n > 0);
    }
    let _ = Command::new("chattr")
        .arg("-R")
        .arg("-i")
        .arg(&dir.data)
        .status();
}

// 6. Orphans of rebuilds that were killed or failed are removed; nothing live is.

#[test]
fn orphans_of_killed_or_failed_rebuilds_are_removed_but_not_the_live_database_or_a_live_rebuild() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let live = dir.live_projection();
    let projections = dir.projections();
    let databases = || -> BTreeSet<String> {
        std::fs::read_dir(dir.projections())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("p-"))
            .collect()
    };

    // A rebuild killed with -9 after folding, while its database name is claimed.
    let mut cmd = dir.tf_cmd(&["rebuild-projections", "--full"]);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:rebuild:20000");
    let rebuild = dir.spawn(cmd, "rebuild");
    wait_until(
        "the rebuild claimed its database",
        Duration::from_secs(20),
        || databases().iter().any(|n| n.ends_with(".lock")),
    );
    rebuild.kill_9();
    // A full-size database left by a rebuild killed while writing (its lock free), and
    // one of an older trustfold (no lock file at all).
    let dead = projections.join("p-0000000000000000000000000000dead.sqlite3");
    std::fs::copy(&live, &dead).unwrap();
    std::fs::write(
        projections.join("p-0000000000000000000000000000dead.sqlite3.lock"),
        b"",
    )
    .unwrap();
    std::fs::copy(
        &live,
        projections.join("p-00000000000000000000000000000old.sqlite3"),
    )
    .unwrap();
    // A rebuild in progress in another process: its lock is held.
    let busy = projections.join("p-0000000000000000000000000000b051.sqlite3");
    std::fs::copy(&live, &busy).unwrap();
    let busy_lock = projections.join("p-0000000000000000000000000000b051.sqlite3.lock");
    std::fs::write(&busy_lock, b"").unwrap();
    // Held by this process: to trustfold, another process.
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(&busy_lock)
        .unwrap();
    holder.lock().unwrap();

    let entities = dir.entities();
    // The next ingest's catch-up cleans up, leaving the live database and the busy rebuild.
    assert_success(&dir.tf(&["ingest", "tennis edinburgh"]));
    let live = dir.live_projection();
    let live_name = live.file_name().unwrap().to_string_lossy().into_owned();
    let left: BTreeSet<String> = databases()
        .into_iter()
        .filter(|n| !n.starts_with(&live_name))
        .collect();
    let busy_name = busy.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        left,
        [busy_name.clone(), format!("{busy_name}.lock")].into(),
        "only the live rebuild's files are left"
    );
    drop(holder);
    assert_success(&dir.tf(&["rebuild-projections", "--full"]));
    let live = dir.live_projection();
    let live_name = live.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        databases().iter().all(|n| n.starts_with(&live_name)),
        "{:?}",
        databases()
    );
    assert!(dir.entities().len() >= entities.len());
}

#[test]
fn a_rebuild_that_runs_out_of_space_leaves_no_partial_file_and_the_old_projections_in_place() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let Some((fs, dir)) = on_tmpfs("16m") else {
        return;
    };
    assert_success(&dir.tf(&["ingest", SEED]));
    assert_success(&import_csv(
        &dir,
        "many.csv",
        &venues_csv("RB", 3000, 0),
        &[],
    ));
    let entities = dir.entities();
    let live = dir.live_projection();
    let size = std::fs::metadata(&live).unwrap().len();
    // Room for less than half a new database: refused before it starts.
    fs.fill(size / 2);
    let out = dir.tf(&["rebuild-projections", "--full"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("disk full"), "{}", stderr(&out));
    let files: Vec<String> = std::fs::read_dir(dir.projections())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("p-"))
        .collect();
    let live_name = live.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        files.iter().all(|n| n.starts_with(&live_name)),
        "no partial database: {files:?}"
    );
    assert_eq!(dir.live_projection(), live);
    assert_eq!(dir.entities(), entities);
    fs.unfill();
    assert_success(&dir.tf(&["rebuild-projections", "--full"]));
    assert_eq!(dir.entities().len(), entities.len());
}

// 7. A stop request is honoured at the next safe point of every stage.

#[test]
fn sigint_in_the_extract_resolve_or_identity_stage_cancels_the_run_with_exit_130() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    for (stage, recorded_stage) in [
        ("extract", "extract"),
        ("resolve", "resolve"),
        ("identity", "resolve"),
    ] {
        let dir = setup();
        let mut cmd = dir.tf_cmd(&["ingest", SEED]);
        cmd.env("TRUSTFOLD_FAILPOINT", format!("sleep:{stage}:30000"));
        let ingest = dir.spawn(cmd, &format!("ingest-{stage}"));
        let err_file = ingest.err.clone();
        wait_until(
            &format!("the run sleeps at {stage}"),
            Duration::from_secs(20),
            || std::fs::read_to_string(&err_file).is_ok_and(|e| e.contains("failpoint: sleeping")),
        );
        ingest.signal("INT");
        let out = ingest.wait_for_exit(Duration::from_secs(10));
        assert_exit(&out, 130);
        let (run_id, events) = last_run(&dir);
        let last = events.last().unwrap();
        assert_eq!(
            last["kind"],
            "RunCancelled",
            "{stage}: {:?}",
            kinds(&events)
        );
        let reason = last["payload"]["reason"].as_str().unwrap();
        assert_eq!(reason, format!("SIGINT during {recorded_stage}"), "{stage}");
        let counts = dir.kind_counts();
        assert_eq!(
            counts.contains_key("CandidateExtracted"),
            stage == "identity",
            "{stage}: {counts:?}"
        );
        assert!(
            !counts.contains_key("CandidateAccepted"),
            "{stage}: {counts:?}"
        );
        assert!(!counts.contains_key("MergeDecided"), "{stage}: {counts:?}");
        assert_eq!(run_row(&dir, &run_id)["status"], "cancelled");
        assert_success(&dir.tf(&["verify"]));
        assert_every_run_ends_once(&dir);
    }
}

// 8. An interrupted import can always be closed.

#[test]
fn an_import_stopped_by_sigint_is_cancelled_and_one_killed_with_sigkill_is_resumed_or_closed() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let csv = venues_csv("IMP", 40, 0);
    let reference = setup();
    assert_success(&import_csv(&reference, "imp.csv", &csv, &[]));

    // SIGINT: RunCancelled, exit 130, nothing decided.
    let dir = setup();
    let path = write(&dir, "imp.csv", csv.as_bytes());
    let import_cmd = |failpoint: &str| {
        let mut cmd = dir.tf_cmd(&[
            "import",
            "--source",
            "council_sheet",
            "--format",
            "csv",
            "--map",
            MAP,
            path.to_str().unwrap(),
        ]);
        cmd.env("TRUSTFOLD_FAILPOINT", failpoint);
        cmd
    };
    let sleeping = |spawned: &Spawned| {
        let err = spawned.err.clone();
        wait_until("the import sleeps", Duration::from_secs(20), move || {
            std::fs::read_to_string(&err).is_ok_and(|e| e.contains("failpoint: sleeping"))
        });
    };
    let import = dir.spawn(import_cmd("sleep:import:30000"), "import-int");
    sleeping(&import);
    // Live: it holds its run's lock.
    let (run_id, _) = last_run(&dir);
    assert_eq!(run_row(&dir, &run_id)["interrupted"], false);
    import.signal("INT");
    let out = import.wait_for_exit(Duration::from_secs(10));
    assert_exit(&out, 130);
    let (_, events) = last_run(&dir);
    assert_eq!(
        events.last().unwrap()["kind"],
        "RunCancelled",
        "{:?}",
        kinds(&events)
    );
    assert_eq!(run_row(&dir, &run_id)["status"], "cancelled");

    // SIGKILL after the extraction events: resume finishes it, without duplicates.
    let dir = setup();
    let path = write(&dir, "imp.csv", csv.as_bytes());
    let mut cmd = dir.tf_cmd(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
        path.to_str().unwrap(),
    ]);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:identity:30000");
    let import = dir.spawn(cmd, "import-kill");
    sleeping(&import);
    import.kill_9();
    let (run_id, _) = last_run(&dir);
    assert_listed_as_interrupted(&dir, &run_id, "an import killed with -9");
    let resume = dir.tf(&["resume", &run_id]);
    assert_resumes_like(
        &dir,
        &run_id,
        "an import killed with -9",
        resume,
        &reference,
    );

    // SIGKILL before the payload was stored: resume closes it, saying why.
    let dir = setup();
    let path = write(&dir, "imp.csv", csv.as_bytes());
    let mut cmd = dir.tf_cmd(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
        path.to_str().unwrap(),
    ]);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:payload:30000");
    let import = dir.spawn(cmd, "import-early");
    sleeping(&import);
    import.kill_9();
    let (run_id, _) = last_run(&dir);
    assert_listed_as_interrupted(&dir, &run_id, "killed before its payload was stored");
    let out = dir.tf(&["resume", &run_id]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("import it again"), "{}", stderr(&out));
    let row = run_row(&dir, &run_id);
    assert_eq!(row["status"], "failed", "{row}");
    assert_eq!(row["interrupted"], false, "{row}");

    // Any interrupted run can be ended with a reason instead.
    let dir = setup();
    let killed = ingest_killed_in(&dir, "extract", reference_responses());
    let out = dir.tf(&[
        "resume",
        &killed,
        "--abandon",
        "--reason",
        "superseded by tomorrow's run",
    ]);
    assert_success(&out);
    let row = run_row(&dir, &killed);
    assert_eq!(row["status"], "cancelled", "{row}");
    let events = dir.run_events(&killed);
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "RunCancelled");
    assert!(last["payload"]["reason"]
        .as_str()
        .unwrap()
        .contains("superseded by tomorrow's run"));
    assert_every_run_ends_once(&dir);
    assert_success(&dir.tf(&["verify"]));
}

/// How many responses an ingest of the seed query records.
fn reference_responses() -> usize {
    let reference = setup();
    assert_success(&reference.tf(&["ingest", SEED]));
    reference.events_of_kind("ConnectorResponded").len()
}

// 9. One id on two rows that disagree: refused, unless a flag says which row wins.

#[test]
fn an_import_with_one_id_on_rows_that_disagree_is_refused_unless_told_which_row_wins() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let csv = "id,name,addr,city,pc,phone,lat,lon\n\
        D-1,Meadowbank Sports Centre,139 London Road,Edinburgh,EH7 6AE,,55.9581,-3.1529\n\
        D-2,Leith Victoria Pool,Junction Place,Edinburgh,EH6 5JA,,55.9700,-3.1740\n\
        D-1,Meadowbank Sports Centre (new),139 London Road,Edinburgh,EH7 6AE,,55.9581,-3.1529\n";
    let dir = setup();
    let out = import_csv(&dir, "dup.csv", csv, &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("\"D-1\" on line 2 and line 4"), "{err}");
    assert!(err.contains("--on-duplicate"), "{err}");
    assert!(!dir.log().exists(), "nothing was appended");

    for (flag, name, dropped_line) in [
        ("keep-first", "Meadowbank Sports Centre", 4),
        ("keep-last", "Meadowbank Sports Centre (new)", 2),
    ] {
        let dir = setup();
        let out = import_csv(&dir, "dup.csv", csv, &["--on-duplicate", flag]);
        assert_success(&out);
        let extracted: Vec<Value> = dir
            .events_of_kind("CandidateExtracted")
            .into_iter()
            .filter(|e| e["payload"]["external_id"] == "D-1")
            .collect();
        assert_eq!(extracted.len(), 1, "{flag}");
        assert_eq!(extracted[0]["payload"]["fields"]["name"], name, "{flag}");
        let cid = extracted[0]["payload"]["candidate_id"].as_str().unwrap();
        assert!(
            !dir.events_of_kind("CandidateRejected")
                .iter()
                .any(|e| e["payload"]["candidate_id"] == cid),
            "{flag}: accepted, not also rejected"
        );
        let notes =
            dir.events_of_kind("CandidateExtracted")[0]["payload"]["skipped_records"].to_string();
        assert!(
            notes.contains(&format!("line {dropped_line}: D-1: the same id as")),
            "{flag}: {notes}"
        );
        assert!(dir.entities().iter().any(|e| e["name"] == name), "{flag}");
    }

    // Rows that repeat one another exactly are not a conflict.
    let same = "id,name,addr,city,pc,phone,lat,lon\n\
        S-1,Drumbrae Leisure Centre,30 Drum Brae Terrace,Edinburgh,EH4 7SF,,55.9530,-3.2790\n\
        S-1,Drumbrae Leisure Centre,30 Drum Brae Terrace,Edinburgh,EH4 7SF,,55.9530,-3.2790\n";
    assert_success(&import_csv(&setup(), "same.csv", same, &[]));
}

// 10. A name over the limit is skipped saying so, not called missing.

#[test]
fn a_name_over_the_limit_is_skipped_as_too_long_with_its_length_and_the_limit() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let long = format!("The {}Sports Ground", "Very ".repeat(60));
    let csv = format!(
        "id,name,addr,city,pc,phone,lat,lon\n\
         L-1,{long},1 Long Road,Edinburgh,EH1 1AA,,55.9500,-3.1900\n\
         L-2,Short Name Hall,2 Long Road,Edinburgh,EH1 1AA,,55.9510,-3.1910\n"
    );
    let dir = setup();
    let out = import_csv(&dir, "long.csv", &csv, &["--json"]);
    assert_success(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["figures"]["candidates_found"], 1, "{report}");
    let skipped =
        dir.events_of_kind("CandidateExtracted")[0]["payload"]["skipped_records"].to_string();
    let n_chars = long.chars().count();
    assert!(
        skipped.contains(&format!(
            "line 2: L-1: name too long: {n_chars} characters, limit 200 (NAME_CHARS_MAX)"
        )),
        "{skipped}"
    );
    assert!(!skipped.contains("no name"), "{skipped}");
}

// 11. A row added by hand is named as added, not as something removed.

#[test]
fn verify_names_a_row_added_by_hand_as_added_outside_trustfold() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let n = dir.event_count() as i64;
    let conn = sqlite(&dir.log());
    conn.execute(
        "INSERT INTO events (seq, id, stream, stream_version, kind, schema_version, \
         recorded_at_us, run_id, trace_id, causation_id, payload, hash) \
         SELECT seq + 1, randomblob(16), 'run/forged', 1, kind, schema_version, \
         recorded_at_us, run_id, trace_id, causation_id, payload, hash \
         FROM events WHERE seq = ?1",
        [n],
    )
    .unwrap();
    drop(conn);
    let out = dir.tf(&["verify"]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("seq {}: added outside trustfold", n + 1)),
        "{err}"
    );
    assert!(err.contains("run/forged"), "{err}");
    assert!(err.contains(&format!("(seq {n})")), "{err}");
    assert!(!err.contains("removed"), "{err}");
    let doc: Value = serde_json::from_slice(&dir.tf(&["verify", "--json"]).stdout).unwrap();
    assert_eq!(doc["first_bad_seq"], n + 1);
    assert_eq!(doc["problems"][0]["kind"], "added_outside_trustfold");
    // A writer will not chain onto it either.
    let out = dir.tf(&["ingest", SEED]);
    assert_exit(&out, 3);
    assert_eq!(dir.event_count() as i64, n + 1, "nothing appended");
}

// 12. Storage faults are runtime failures (exit 1); the blob store has no lock to wait on.

#[test]
fn storage_faults_exit_1_and_no_process_waits_for_another_to_release_the_blob_store() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    let mut cmd = dir.tf_cmd(&["ingest", SEED]);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:identity:30000");
    let slow = dir.spawn(cmd, "slow");
    let err = slow.err.clone();
    wait_until(
        "the run sleeps with its blobs open",
        Duration::from_secs(20),
        || std::fs::read_to_string(&err).is_ok_and(|e| e.contains("failpoint: sleeping")),
    );
    let started = Instant::now();
    assert_success(&import_csv(&dir, "other.csv", &venues_csv("LK", 3, 0), &[]));
    assert_success(&dir.tf(&["verify"]));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no wait: {:?}",
        started.elapsed()
    );
    slow.signal("INT");
    assert_exit(&slow.wait_for_exit(Duration::from_secs(10)), 130);

    // A data dir marked read-only: writers fail at runtime (1), readers work.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir.data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = dir.tf(&["ingest", SEED]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_success(&dir.tf(&["verify"]));
    assert_success(&dir.tf(&["entities"]));
    std::fs::set_permissions(&dir.data, std::fs::Permissions::from_mode(0o755)).unwrap();
}

// 13. An anchor kept elsewhere, and writers and readers that stop on a tampered log.

#[test]
fn head_prints_an_anchor_that_verify_expect_holds_the_log_to() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    assert_success(&dir.tf(&["ingest", "tennis edinburgh"]));
    let out = dir.tf(&["head"]);
    assert_success(&out);
    let anchor = stdout(&out).trim().to_string();
    let n = dir.event_count() as u64;
    assert!(anchor.starts_with(&format!("{n}:")), "{anchor}");
    let doc = dir.tf_json(&["head", "--json"]);
    assert_eq!(doc["anchor"], anchor.as_str());
    assert_eq!(doc["seq"], n);
    let out = dir.tf(&["verify", "--expect", &anchor]);
    assert_success(&out);
    assert!(stdout(&out).contains("1 anchor found"), "{}", stdout(&out));

    // Remove the last events and rewrite the recorded head: self-consistent, but not the
    // log the anchor was taken from.
    let keep = n - 5;
    let conn = sqlite(&dir.log());
    conn.execute("DELETE FROM events WHERE seq > ?1", [keep as i64])
        .unwrap();
    let hash: Vec<u8> = conn
        .query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [keep as i64],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE log_meta SET value = ?1 WHERE key = 'head_seq'",
        [keep.to_le_bytes().as_slice()],
    )
    .unwrap();
    conn.execute(
        "UPDATE log_meta SET value = ?1 WHERE key = 'head_hash'",
        [hash.as_slice()],
    )
    .unwrap();
    drop(conn);
    assert_success(&dir.tf(&["verify"]));
    let out = dir.tf(&["verify", "--expect", &anchor]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("seq {}: the anchored event (seq {n}", keep + 1)),
        "{}",
        stderr(&out)
    );
    let doc: Value =
        serde_json::from_slice(&dir.tf(&["verify", "--json", "--expect", &anchor]).stdout).unwrap();
    assert_eq!(doc["problems"][0]["kind"], "anchor_mismatch");
    assert_eq!(doc["first_bad_seq"], keep + 1);

    let bad = dir.tf(&["verify", "--expect", "12:nothex"]);
    assert_exit(&bad, 2);
}

#[test]
fn ingest_and_rebuild_stop_at_a_tampered_event_instead_of_folding_it() {
    if embedded_only("storage faults of the data dir's files") {
        return;
    }
    let tamper = |dir: &Scratch, seq: u64| {
        sqlite(&dir.log())
            .execute(
                "UPDATE events SET payload = replace(payload, 'a', 'b') WHERE seq = ?1",
                [seq as i64],
            )
            .unwrap();
    };
    // A middle event: the rebuild reads it, stops, and keeps the old projections.
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let live = dir.live_projection();
    let files = || -> BTreeSet<String> {
        std::fs::read_dir(dir.projections())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("p-"))
            .collect()
    };
    let before = files();
    tamper(&dir, 5);
    let out = dir.tf(&["rebuild-projections", "--full"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("seq 5"), "{}", stderr(&out));
    assert_eq!(dir.live_projection(), live);
    assert_eq!(files(), before, "no new database, nothing left behind");

    // An observation a policy change re-merges: read by seq, checked all the same.
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let google = dir
        .events_of_kind("CandidateExtracted")
        .into_iter()
        .find(|e| e["payload"]["source"] == "google_places")
        .unwrap();
    let seq = google["seq"].as_u64().unwrap();
    tamper(&dir, seq);
    std::fs::write(
        dir.data.join("trust.toml"),
        policy_with_google_trust("0.50"),
    )
    .unwrap();
    let out = dir.tf(&["rebuild-projections"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("seq {seq}")),
        "{}",
        stderr(&out)
    );

    // The last event: an ingest will not chain onto it.
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let n = dir.event_count() as u64;
    tamper(&dir, n);
    let out = dir.tf(&["ingest", "tennis edinburgh"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("seq {n}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(dir.event_count() as u64, n, "nothing appended");

    // Events not yet folded: the ingest's catch-up stops at the tampered one.
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let n = dir.event_count() as u64;
    dir.append(10, 1);
    tamper(&dir, n + 3);
    let out = dir.tf(&["ingest", "tennis edinburgh"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("seq {}", n + 3)),
        "{}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_slice(&dir.tf(&["verify", "--json"]).stdout).unwrap();
    assert_eq!(doc["first_bad_seq"], n + 3);
}
