//! Identity corrections: `split` and `merge` (issue 14).

use super::*;

/// The entity of the fixture's Powerleague Portobello: the one with the most sources.
fn portobello(dir: &Scratch) -> Value {
    best_sourced(&dir.entities()).clone()
}

fn sources_of(e: &Value) -> BTreeSet<String> {
    e["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The members of an entity as `provenance --json` lists them: candidate id -> source.
fn members(dir: &Scratch, key: &str) -> BTreeMap<String, String> {
    let doc = dir.tf_json(&["provenance", key, "--json"]);
    doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["candidate_id"].as_str().unwrap().to_string(),
                m["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The member of `source` in `key` (the first, if several).
fn member_of(dir: &Scratch, key: &str, source: &str) -> String {
    members(dir, key)
        .into_iter()
        .find(|(_, s)| s == source)
        .unwrap_or_else(|| panic!("{key} has a record of {source}"))
        .0
}

/// Which entity (slug) holds `candidate`.
fn holder(dir: &Scratch, candidate: &str) -> String {
    dir.entities()
        .iter()
        .find(|e| members(dir, e["slug"].as_str().unwrap()).contains_key(candidate))
        .map(|e| e["slug"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no entity holds {candidate}"))
}

fn slugs(dir: &Scratch) -> BTreeSet<String> {
    dir.entities()
        .iter()
        .map(|e| e["slug"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_split_record_stays_out_on_reingest_and_a_merged_entity_answers_to_its_old_slug() {
    let dir = setup();
    ingest_offline(&dir, SEED);
    let before = slugs(&dir);
    let seed = portobello(&dir);
    let seed_slug = seed["slug"].as_str().unwrap().to_string();
    let seed_id = seed["entity_id"].as_str().unwrap().to_string();
    assert!(sources_of(&seed).contains("openstreetmap"), "{seed}");
    let osm = member_of(&dir, &seed_slug, "openstreetmap");
    let split_at = dir.event_count();
    eprintln!("counts: after ingest {} entities", before.len());

    // Split the OpenStreetMap record out: it founds a new entity.
    let out = dir.tf(&[
        "split",
        &seed_slug,
        "--candidate",
        &osm,
        "--reason",
        "the OSM way is the car park next door",
        "--by",
        "alice",
        "--json",
    ]);
    assert_success(&out);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["new_entity"], true);
    assert_eq!(done["entity_id"], seed_id.as_str());
    let new_id = done["into_entity_id"].as_str().unwrap().to_string();
    let new_slug = dir.tf_json(&["provenance", &new_id, "--json"])["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let after_split = slugs(&dir);
    eprintln!("counts: after split {} entities", after_split.len());
    assert_eq!(after_split.len(), before.len() + 1);
    assert!(!before.contains(&new_slug), "a new slug: {new_slug}");
    assert_eq!(holder(&dir, &osm), new_slug);
    let seed_now = dir.tf_json(&["provenance", &seed_slug, "--json"]);
    assert!(!sources_of(&seed_now).contains("openstreetmap"));
    // Who, when and why, beside the matcher's decision.
    let split = &seed_now["corrections"][0];
    assert_eq!(split["kind"], "split");
    assert_eq!(split["by"], "alice");
    assert_eq!(split["reason"], "the OSM way is the car park next door");
    assert_eq!(split["candidate_id"], osm.as_str());
    let new_doc = dir.tf_json(&["provenance", &new_slug, "--json"]);
    let member = &new_doc["members"][0];
    assert_eq!(
        member["decision"]["decided_by"],
        format!("split:{seed_id}").as_str()
    );
    assert_eq!(member["original_decision"]["decided_by"], "matcher");
    assert_eq!(new_doc["corrections"][0]["by"], "alice");
    let text = stdout(&dir.tf(&["provenance", &new_slug]));
    assert!(text.contains("identity corrections:"), "{text}");
    assert!(text.contains("split by alice"), "{text}");
    // As of before the split, the entity is as it was.
    let then = dir.tf_json(&[
        "provenance",
        &seed_slug,
        "--as-of",
        &split_at.to_string(),
        "--json",
    ]);
    assert!(sources_of(&then).contains("openstreetmap"), "{then}");

    // The same query again: the record is observed again and stays out; no new entity.
    let out = clean_env(&mut dir.cmd())
        .env("TRUSTFOLD_IDENTITY_CHECK", "1")
        .args(["ingest", SEED])
        .output()
        .unwrap();
    assert_success(&out);
    let after_reingest = slugs(&dir);
    eprintln!("counts: after re-ingest {} entities", after_reingest.len());
    assert_eq!(after_reingest, after_split);
    assert_eq!(holder(&dir, &osm), new_slug);
    assert!(
        !sources_of(&dir.tf_json(&["provenance", &seed_slug, "--json"])).contains("openstreetmap")
    );

    // Merge the split-out entity into another one: both old keys answer with the survivor.
    let other = before
        .iter()
        .find(|s| **s != seed_slug)
        .expect("the fixture has a second entity")
        .clone();
    let merge_at = dir.event_count();
    let out = dir.tf(&[
        "merge", &other, &new_slug, "--reason", "one site", "--by", "bob",
    ]);
    assert_success(&out);
    let after_merge = slugs(&dir);
    eprintln!("counts: after merge {} entities", after_merge.len());
    assert_eq!(after_merge.len(), after_split.len() - 1);
    assert!(!after_merge.contains(&new_slug));
    for key in [&new_slug, &new_id] {
        let out = dir.tf(&["provenance", key, "--json"]);
        assert_success(&out);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["slug"],
            other.as_str(),
            "{key} resolves to the survivor"
        );
        assert_eq!(doc["alias"]["entity_id"], new_id.as_str());
        assert_eq!(doc["alias"]["by"], "bob");
        assert!(stderr(&out).contains("was merged into"), "{}", stderr(&out));
        let out = dir.tf(&["entities", "--search", key, "--json"]);
        assert_success(&out);
        let found: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            found
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["slug"] == other.as_str()),
            "{found}"
        );
        assert!(stderr(&out).contains("was merged into"), "{}", stderr(&out));
    }
    assert_eq!(holder(&dir, &osm), other);
    // The old slug as of before the merge is the entity it named then.
    let then = dir.tf_json(&[
        "provenance",
        &new_slug,
        "--as-of",
        &merge_at.to_string(),
        "--json",
    ]);
    assert_eq!(then["entity_id"], new_id.as_str());
    assert_eq!(
        sources_of(&then),
        BTreeSet::from(["openstreetmap".to_string()])
    );
    let survivor = dir.tf_json(&["provenance", &other, "--json"]);
    let merge = survivor["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "merge")
        .expect("the merge is shown")
        .clone();
    assert_eq!(merge["by"], "bob");
    assert_eq!(merge["merged_entity_id"], new_id.as_str());

    // Again: the merge holds, and the slug of the entity merged away is never reused.
    let out = clean_env(&mut dir.cmd())
        .env("TRUSTFOLD_IDENTITY_CHECK", "1")
        .args(["ingest", SEED])
        .output()
        .unwrap();
    assert_success(&out);
    let after_second = slugs(&dir);
    eprintln!(
        "counts: after second re-ingest {} entities",
        after_second.len()
    );
    assert_eq!(after_second, after_merge);
    assert_eq!(holder(&dir, &osm), other);

    if !on_postgres() {
        let incremental = dir.projection_dump();
        assert_success(&dir.tf(&["rebuild-projections", "--full"]));
        assert_eq!(incremental, dir.projection_dump(), "incremental = rebuild");
    } else {
        assert_success(&dir.tf(&["rebuild-projections", "--full"]));
        assert_eq!(slugs(&dir), after_merge);
    }
    assert_success(&dir.tf(&["verify"]));
}

/// Starts `args` with a pause between its check and its append, and waits until it is
/// there (it then holds the resolve lock corrections and runs take turns on).
fn paused(dir: &Scratch, args: &[&str], tag: &str) -> Spawned {
    let mut cmd = dir.tf_cmd(args);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:correction:4000");
    let slow = dir.spawn(cmd, tag);
    let err_file = slow.err.clone();
    wait_until(
        &format!("{tag} has checked and sleeps before appending"),
        Duration::from_secs(30),
        || std::fs::read_to_string(&err_file).is_ok_and(|e| e.contains("failpoint: sleeping")),
    );
    slow
}

#[test]
fn of_two_corrections_of_one_entity_at_once_one_wins_and_the_other_exits_2_appending_nothing() {
    let dir = setup();
    ingest_offline(&dir, SEED);
    let seed = portobello(&dir);
    let slug = seed["slug"].as_str().unwrap().to_string();
    let osm = member_of(&dir, &slug, "openstreetmap");
    let serper = member_of(&dir, &slug, "serper");

    // Two splits: the second, checked while the first was being recorded, loses.
    let before = dir.event_count();
    let first = paused(
        &dir,
        &["split", &slug, "--candidate", &osm, "--reason", "first"],
        "split-1",
    );
    let second = dir.tf(&["split", &slug, "--candidate", &serper, "--reason", "second"]);
    assert_exit(&second, 2);
    assert!(
        stderr(&second).contains("changed by someone else"),
        "{}",
        stderr(&second)
    );
    assert_success(&first.wait_for_exit(Duration::from_secs(30)));
    assert_eq!(
        dir.event_count(),
        before + 2,
        "the first split's move and record only"
    );
    assert_ne!(holder(&dir, &osm), slug, "the winner's record moved");
    assert_eq!(holder(&dir, &serper), slug, "the loser's record did not");

    // A change to the entity's stream between the check and the append (an override,
    // which takes no turn): the stream's expected version stops the split.
    let before = dir.event_count();
    let split = paused(
        &dir,
        &["split", &slug, "--candidate", &serper, "--reason", "again"],
        "split-2",
    );
    assert_success(&dir.tf(&[
        "override",
        &slug,
        "name",
        "Powerleague Portobello",
        "--reason",
        "sign",
    ]));
    let out = split.wait_for_exit(Duration::from_secs(30));
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("changed by someone else"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dir.event_count(), before + 1, "the override only");
    assert_eq!(holder(&dir, &serper), slug);

    // Two merges of one entity into two others: one wins.
    let all = slugs(&dir);
    let mut others = all.iter().filter(|s| **s != slug);
    let (a, b) = (
        others.next().unwrap().clone(),
        others.next().unwrap().clone(),
    );
    let before = dir.event_count();
    let first = paused(&dir, &["merge", &slug, &a, "--reason", "first"], "merge-1");
    assert_exit(&dir.tf(&["merge", &b, &a, "--reason", "second"]), 2);
    assert_success(&first.wait_for_exit(Duration::from_secs(30)));
    assert!(dir.event_count() > before);
    let doc = dir.tf_json(&["provenance", &a, "--json"]);
    assert_eq!(doc["slug"], slug.as_str(), "{a} went to the winner");
    assert_success(&dir.tf(&["verify"]));
}

#[test]
fn bad_corrections_exit_2_name_the_input_and_append_nothing() {
    let dir = setup();
    ingest_offline(&dir, SEED);
    let seed = portobello(&dir);
    let slug = seed["slug"].as_str().unwrap().to_string();
    let osm = member_of(&dir, &slug, "openstreetmap");
    let other = slugs(&dir).into_iter().find(|s| *s != slug).unwrap();
    let foreign = members(&dir, &other).into_keys().next().unwrap();
    let events = dir.event_count();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "split",
                "no-such-place",
                "--candidate",
                &osm,
                "--reason",
                "r",
            ],
            "no-such-place",
        ),
        (
            vec!["split", &slug, "--candidate", "c_nope", "--reason", "r"],
            "c_nope",
        ),
        (
            vec!["split", &slug, "--candidate", &foreign, "--reason", "r"],
            &foreign,
        ),
        (
            vec![
                "split",
                &slug,
                "--candidate",
                &osm,
                "--into",
                &slug,
                "--reason",
                "r",
            ],
            "--into",
        ),
        (
            vec![
                "split",
                &slug,
                "--candidate",
                &osm,
                "--into",
                "nowhere",
                "--reason",
                "r",
            ],
            "nowhere",
        ),
        (
            vec!["split", &other, "--candidate", &foreign, "--reason", "r"],
            "empty",
        ),
        (
            vec!["split", &slug, "--candidate", &osm, "--reason", " "],
            "--reason",
        ),
        (vec!["merge", &slug, &slug, "--reason", "r"], "itself"),
        (
            vec!["merge", &slug, "no-such-place", "--reason", "r"],
            "no-such-place",
        ),
        (
            vec!["merge", "no-such-place", &slug, "--reason", "r"],
            "no-such-place",
        ),
    ];
    for (args, named) in &cases {
        let out = dir.tf(args);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(named), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
    }
    assert_eq!(dir.event_count(), events, "nothing appended");
    assert_success(&dir.tf(&["verify"]));
}

#[test]
fn a_split_into_an_alias_joins_the_survivor() {
    let dir = setup();
    ingest_offline(&dir, SEED);
    let seed = portobello(&dir);
    let slug = seed["slug"].as_str().unwrap().to_string();
    let seed_id = seed["entity_id"].as_str().unwrap().to_string();
    let osm = member_of(&dir, &slug, "openstreetmap");
    let all = slugs(&dir);
    let mut others = all.iter().filter(|s| **s != slug);
    let (keep, gone) = (
        others.next().unwrap().clone(),
        others.next().unwrap().clone(),
    );
    assert_success(&dir.tf(&["merge", &keep, &gone, "--reason", "one club"]));
    let keep_id = dir.tf_json(&["provenance", &keep, "--json"])["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = dir.tf(&[
        "split",
        &slug,
        "--candidate",
        &osm,
        "--into",
        &gone,
        "--reason",
        "their pitch",
        "--json",
    ]);
    assert_success(&out);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["new_entity"], false);
    assert_eq!(done["into_entity_id"], keep_id.as_str());
    assert_eq!(holder(&dir, &osm), keep);
    let doc = dir.tf_json(&["provenance", &keep, "--json"]);
    let moved = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["candidate_id"] == osm.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        moved["decision"]["decided_by"],
        format!("split:{seed_id}").as_str()
    );
    assert_eq!(moved["original_decision"]["decided_by"], "matcher");
    // The alias of an alias: merging the survivor moves the old alias on.
    assert_success(&dir.tf(&["merge", &slug, &keep, "--reason", "all one site"]));
    let doc = dir.tf_json(&["provenance", &gone, "--json"]);
    assert_eq!(
        doc["slug"],
        slug.as_str(),
        "{gone} resolves to the last survivor"
    );
    assert_eq!(slugs(&dir).len(), all.len() - 2);
    if !on_postgres() {
        let incremental = dir.projection_dump();
        assert_success(&dir.tf(&["rebuild-projections", "--full"]));
        assert_eq!(incremental, dir.projection_dump());
    }
    assert_success(&dir.tf(&["verify"]));
}

/// A review opened before its entity was merged away: approving it puts the record in
/// the survivor, where the projections and the identity index both file it.
#[test]
fn a_review_approved_after_its_entity_was_merged_away_joins_the_survivor() {
    let dir = setup();
    ingest_offline(&dir, SEED);
    let (review_id, entity, candidate) = a_record_in_review(&dir);
    let survivor = portobello(&dir);
    let survivor_id = survivor["entity_id"].as_str().unwrap().to_string();
    let survivor_slug = survivor["slug"].as_str().unwrap().to_string();
    assert_success(&dir.tf(&["merge", &survivor_slug, &entity, "--reason", "one venue"]));

    assert_success(&dir.tf(&["review", "approve", &review_id, "--reason", "same club"]));
    let approved = dir
        .events_of_kind("MergeDecided")
        .into_iter()
        .rev()
        .find(|e| e["payload"]["candidate_id"] == candidate.as_str())
        .expect("the answer's MergeDecided");
    assert_eq!(
        approved["payload"]["decision"]["entity_id"], survivor_id,
        "{approved}"
    );
    assert_eq!(holder(&dir, &candidate), survivor_slug);
    // A later run decides against an identity index that agrees with a full scan.
    let mut cmd = dir.tf_cmd(&["ingest", SEED]);
    let out = cmd.env("TRUSTFOLD_IDENTITY_CHECK", "1").output().unwrap();
    assert_success(&out);
    assert_success(&dir.tf(&["verify"]));
}
