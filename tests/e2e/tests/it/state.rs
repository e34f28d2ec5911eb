//! Checkpoints survive in the real ClickHouse: a multi-chunk snapshot round-trips byte for
//! byte, slots alternate, and the newest complete checkpoint is the one restored.

use rapport_clickhouse::{next_slot, StateStore};
use rapport_e2e::{clickhouse_config, STACK_HINT};

#[tokio::test]
async fn checkpoints_round_trip_and_the_newest_wins() {
    let cfg = clickhouse_config("state");
    let server = rapport_clickhouse::server_client(&cfg);
    rapport_clickhouse::migrate(&server, &cfg.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    let store = StateStore::new(rapport_clickhouse::client(&cfg), "group-a", "topic-a");

    assert_eq!(
        store.load(3).await.expect("load"),
        None,
        "nothing saved yet"
    );

    // 9 MiB + 7 bytes: three chunks, every byte value present.
    let big: Vec<u8> = (0..(9 << 20) + 7)
        .map(|i: usize| (i * 31 % 251) as u8)
        .collect();
    let slot = next_slot(None);
    store
        .save(3, slot, 1_000, 7, &big, 1_772_445_600)
        .await
        .expect("save");
    let cp = store.load(3).await.expect("load").expect("a checkpoint");
    assert_eq!(
        (cp.slot, cp.next_offset, cp.state_version),
        (slot, 1_000, 7)
    );
    assert!(
        cp.state == big,
        "multi-chunk state comes back byte for byte"
    );

    let slot2 = next_slot(Some(cp.slot));
    store
        .save(3, slot2, 2_000, 7, b"small", 1_772_445_660)
        .await
        .expect("save 2");
    let cp2 = store.load(3).await.expect("load").expect("a checkpoint");
    assert_eq!(
        (cp2.slot, cp2.next_offset, cp2.state.as_slice()),
        (slot2, 2_000, b"small".as_slice())
    );

    // Third save reuses the first slot; the older checkpoint in it is superseded.
    store
        .save(3, next_slot(Some(slot2)), 3_000, 7, b"third", 1_772_445_720)
        .await
        .expect("save 3");
    let cp3 = store.load(3).await.expect("load").expect("a checkpoint");
    assert_eq!(
        (cp3.next_offset, cp3.state.as_slice()),
        (3_000, b"third".as_slice())
    );

    // Other partitions and groups are separate.
    assert_eq!(store.load(4).await.expect("load"), None);
    let other = StateStore::new(rapport_clickhouse::client(&cfg), "group-b", "topic-a");
    assert_eq!(other.load(3).await.expect("load"), None);

    server
        .query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .expect("drop");
}
