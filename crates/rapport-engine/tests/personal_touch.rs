//! Templated-reply detection and personal-touch flags on realistic brand replies (signatures,
//! handles, URLs, numbers and emoji that normalization must mask).

mod common;

use common::{Ev, Tables};
use rapport_engine::{Engine, EngineConfig};
use rapport_events::Kind;

const TEMPLATE: [&str; 6] = [
    "@maria_k Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away ^AB",
    "@j0hn Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away ^CD",
    "@lee @acmehelp Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away *SR",
    "@pat Hi! Sorry to hear that 😔 Please DM us your order number and we'll look into it right away -Tom",
    "@sam_99 Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away ^AB",
    "@zoe Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away - Priya",
];

#[test]
fn templated_and_personal_replies() {
    let mut engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
    let mut tables = Tables::default();
    let mut at = common::ms("2026-03-02T09:00:00Z");
    let next = |engine: &mut Engine, e: Ev| {
        engine.process(&e.0);
    };
    let stamp = |at: &mut i64| {
        *at += 600_000;
        chrono::DateTime::from_timestamp_millis(*at)
            .unwrap()
            .to_rfc3339()
    };
    // Six users complain, each gets the canned answer (masked differences only).
    for (i, text) in TEMPLATE.iter().enumerate() {
        let user = format!("user{i}");
        let t = stamp(&mut at);
        next(
            &mut engine,
            Ev::inbound(&format!("in{i}"), &t, Kind::Comment, &user)
                .text("My parcel never arrived, order 88231"),
        );
        let t = stamp(&mut at);
        next(
            &mut engine,
            Ev::outbound(&format!("tpl{i}"), &t, Kind::Reply, &user)
                .text(text)
                .display_name("Maria Kent"),
        );
    }
    // A personal answer by name, one sharing content words, one generic but unique.
    let t = stamp(&mut at);
    next(
        &mut engine,
        Ev::inbound("in-a", &t, Kind::Comment, "ana")
            .text("The espresso machine leaks water from the steam wand")
            .display_name("Ana Lima"),
    );
    let t = stamp(&mut at);
    next(&mut engine, Ev::outbound("named", &t, Kind::Reply, "ana").text("@ana Oh no, Ana! That shouldn't happen. Is the wand tightened all the way? https://acme.co/help/wand").display_name("Ana Lima"));
    let t = stamp(&mut at);
    next(
        &mut engine,
        Ev::inbound("in-b", &t, Kind::Comment, "ben")
            .text("The espresso machine leaks water again")
            .display_name("Ben Ode"),
    );
    let t = stamp(&mut at);
    next(&mut engine, Ev::outbound("words", &t, Kind::Reply, "ben").text("@ben A leak near the steam wand usually means the espresso machine gasket needs replacing").display_name("Ben Ode"));
    let t = stamp(&mut at);
    next(
        &mut engine,
        Ev::inbound("in-c", &t, Kind::Comment, "cy")
            .text("Do you ship to Norway?")
            .display_name("Cy"),
    );
    let t = stamp(&mut at);
    next(
        &mut engine,
        Ev::outbound("generic", &t, Kind::Reply, "cy")
            .text("@cy Thanks for your message, we will get back to you soon")
            .display_name("Cy"),
    );
    // An automated reply is not analysed at all.
    let t = stamp(&mut at);
    next(
        &mut engine,
        Ev::outbound("bot", &t, Kind::Reply, "cy")
            .text(TEMPLATE[0])
            .automated(),
    );
    engine.advance_watermark(at + 3_600_000);
    tables.apply(engine.drain_output());

    let row = |id: &str| {
        tables
            .touch
            .values()
            .find(|r| r.item_id == format!("obj-{id}"))
            .unwrap_or_else(|| panic!("no personal_touch row for {id}"))
    };
    // The first canned reply is new; the others differ only in handles and signatures
    // (^CD, *SR, - Priya), which normalization drops, so they are exact duplicates. tpl3 has
    // an emoji where the others have a full stop: masked as `<emoji>`, it is a different text
    // and only 3 earlier replies exist, so it cannot reach 4 near-duplicates: not templated.
    assert!(!row("tpl0").is_templated);
    for i in [1, 2, 4, 5] {
        let r = row(&format!("tpl{i}"));
        assert!(r.is_templated && r.exact_duplicate, "tpl{i}");
        assert!(r.deflects_to_private && !r.is_personal, "tpl{i}");
    }
    let odd = row("tpl3");
    assert!(!odd.exact_duplicate && !odd.is_templated && odd.near_duplicates <= 3);
    // Four earlier identical fingerprints (tpl0-2 and tpl4) at distance 0.
    assert!(row("tpl5").near_duplicates >= 4);
    assert_eq!(row("tpl5").simhash, row("tpl0").simhash);
    // "Maria Kent" is not the addressed user's name in the text ("@maria_k" is the handle).
    assert!(!row("tpl0").addresses_by_name);

    let named = row("named");
    assert!(named.addresses_by_name && !named.is_templated && named.is_personal);
    let words = row("words");
    assert!(!words.addresses_by_name && words.shared_content_words >= 2 && words.is_personal);
    let generic = row("generic");
    assert!(!generic.is_templated && !generic.is_personal);
    assert!(tables.touch.values().all(|r| r.item_id != "obj-bot"));

    let day = tables.daily.values().next().unwrap();
    assert_eq!(day.touch_replies, 9);
    assert_eq!(day.templated_replies, 4);
    assert_eq!(day.named_replies, 1);
    assert_eq!(day.deflecting_replies, 6);
    assert_eq!(day.personal_replies, 2);
}
