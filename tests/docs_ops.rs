//! `docs/operations.md` lists every counter `ringvs stats` shows with its meaning,
//! between two markers. The list is `Ctr::ALL` with `Ctr::doc`: this test fails
//! when a counter is added, renamed or redocumented without the page (and prints
//! the table to paste).

use ringvs::stats::Ctr;

const BEGIN: &str = "<!-- counters:begin (generated from Ctr::ALL; tests/docs_ops.rs) -->\n";
const END: &str = "<!-- counters:end -->";

fn table() -> String {
    let mut t = String::from("| Counter | Meaning |\n| --- | --- |\n");
    for c in Ctr::ALL {
        t += &format!("| `{}` | {} |\n", c.name(), c.doc().replace('|', "\\|"));
    }
    t
}

#[test]
fn operations_lists_every_counter_and_drop_reason() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md");
    let page = std::fs::read_to_string(path).expect("docs/operations.md");
    let want = table();
    let got = page
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(t, _)| t);
    assert_eq!(
        got,
        Some(want.as_str()),
        "docs/operations.md: the counter table must read, between the markers:\n{BEGIN}{want}{END}"
    );
    // Every drop reason is also explained in the prose section (what to do).
    for c in Ctr::ALL.iter().filter(|c| c.name().starts_with("drop_")) {
        let n = format!("**`{}`**", c.name());
        assert!(page.contains(&n), "docs/operations.md: no advice for {n}");
    }
}
