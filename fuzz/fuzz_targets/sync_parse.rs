//! Fuzz the backup's parse of a received sync message (`sync::wire::parse`):
//! any datagram, any syncid, must give entries or counted errors, never a
//! panic; every entry it yields, IPv4 or IPv6, must survive a rebuild and
//! parse again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringvs::sync::wire::{self, MessageBuilder};

fuzz_target!(|data: &[u8]| {
    let Some((&syncid, datagram)) = data.split_first() else {
        return;
    };
    let Ok(entries) = wire::parse(datagram, syncid) else {
        return;
    };
    let mut buf = vec![0u8; wire::MAX_MAXLEN];
    let Ok(mut msg) = MessageBuilder::new(&mut buf, wire::MAX_MAXLEN, syncid) else {
        return;
    };
    let good: Vec<_> = entries.filter_map(Result::ok).collect();
    for c in &good {
        if msg.push_any(c).is_err() {
            return;
        }
    }
    let again: Vec<_> = wire::parse(msg.as_bytes(), syncid)
        .map(|e| e.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert_eq!(again, good);
});
