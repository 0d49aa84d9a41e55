//! The type-length-value options of IPv6 hop-by-hop and destination options
//! headers (RFC 8200 §4.2), checked as the kernel's `ip6_parse_tlv`
//! (`net/ipv6/exthdrs.c`) checks a hop-by-hop header when
//! `ipv6_parse_hopopts` runs it from `ip6_rcv_core`, before IPVS sees the
//! packet; and the parameter problem it answers an unknown option with.
//! Not checked, a difference: the CALIPSO (`ipv6_hop_calipso`) and IOAM
//! (`ipv6_hop_ioam`) options, skipped as any option of type 00.

use super::ipv6::{ExtError, HEADER_LEN, next_header};
use std::net::Ipv6Addr;

/// Option types a node must understand (RFC 8200 §4.2): the two paddings, and
/// the router alert MLD carries in its hop-by-hop header (RFC 2711); and the
/// jumbo payload (RFC 2675), which the kernel reads itself
/// (`ipv6_hop_jumbo`) where its type bits would say "unknown".
mod option {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    pub const ROUTER_ALERT: u8 = 5;
    pub const JUMBO: u8 = 0xc2;
}

/// Most options other than padding a hop-by-hop header may carry: the
/// kernel's default `net.ipv6.max_hbh_opts_number`
/// (`IP6_DEFAULT_MAX_HBH_OPTS_CNT`), enforced in `ip6_parse_tlv`.
pub const MAX_HOP_OPTIONS: usize = 8;

/// Most bytes of padding in a row: padding only aligns the next option to 8
/// octets, so 7 is the most it needs (`ip6_parse_tlv`; RFC 4942 §2.1.9.5).
const MAX_PAD: usize = 7;

/// Checks the options `opts` (an options header past its next-header and
/// length bytes): each lies within the header; and, if `act` (a hop-by-hop
/// header, every node's to act on), as `ip6_parse_tlv` does: no more than
/// 7 bytes of padding in a row, PadN data all zero, a router alert of 2
/// bytes (`ipv6_hop_ra`), at most [`MAX_HOP_OPTIONS`] other options
/// ([`ExtError::BadOption`]), and any option the walker does not know
/// skippable (its type's high-order bits 00; 01, 10 and 11 all say to
/// discard the packet, RFC 8200 §4.2: [`ExtError::UnknownOption`]).
pub(super) fn check(opts: &[u8], act: bool) -> Result<(), ExtError> {
    scan(opts, act).map_err(|(e, _)| e)
}

/// [`check`], the error with the offset in `opts` of the option it is about.
fn scan(opts: &[u8], act: bool) -> Result<(), (ExtError, usize)> {
    let (mut at, mut pad, mut options) = (0, 0, 0);
    while let Some(&ty) = opts.get(at) {
        let start = at;
        if ty == option::PAD1 {
            at += 1;
            pad += 1;
            if act && pad > MAX_PAD {
                return Err((ExtError::BadOption, start));
            }
            continue;
        }
        let Some(&len) = opts.get(at + 1) else {
            return Err((ExtError::BadLength, start));
        };
        at += 2 + usize::from(len);
        let Some(data) = opts.get(start + 2..at) else {
            return Err((ExtError::BadLength, start));
        };
        if !act {
            continue;
        }
        let bad = if ty == option::PADN {
            pad += 2 + data.len();
            pad > MAX_PAD || data.iter().any(|&b| b != 0)
        } else {
            (pad, options) = (0, options + 1);
            options > MAX_HOP_OPTIONS || ty == option::ROUTER_ALERT && len != 2
        };
        if bad {
            return Err((ExtError::BadOption, start));
        }
        if !matches!(ty, option::PADN | option::ROUTER_ALERT) && ty >> 6 != 0 {
            return Err((ExtError::UnknownOption, start));
        }
    }
    Ok(())
}

/// The parameter problem the kernel sends about the hop-by-hop options of
/// `packet` (an IPv6 packet from its fixed header, to its payload length)
/// that [`check`] refused with [`ExtError::UnknownOption`], as code and
/// pointer (from the fixed header): for an unknown option whose type's
/// high-order bits say 10, or 11 and `packet` is not to a multicast
/// address, code 2 pointing at the option (`ip6_tlvopt_unknown`). A jumbo
/// payload option `ipv6_hop_jumbo` refuses with code 0: pointing at its
/// length when that is not past 65535 (always, in an Ethernet frame),
/// otherwise at the option, since the payload length is not 0 (a jumbo
/// payload of the wrong size or alignment is dropped unanswered). `None`
/// for any other refusal, answered by nothing. A type-11 option in a frame
/// to a multicast link address (`link_multicast`) is answered by nothing
/// too: `icmp6_send` makes RFC 4443 §2.4(e.3)'s exception for such a frame
/// only for type 10 (`opt_unrec`).
#[cold]
pub fn unknown_option_problem(packet: &[u8], link_multicast: bool) -> Option<(u8, u32)> {
    use super::icmpv6::param_problem::{HEADER_FIELD, OPTION};
    if packet.get(6) != Some(&next_header::HOP_BY_HOP) {
        return None;
    }
    let units = usize::from(*packet.get(HEADER_LEN + 1)?);
    let opts = packet.get(HEADER_LEN + 2..HEADER_LEN + (units + 1) * 8)?;
    let Err((ExtError::UnknownOption, at)) = scan(opts, true) else {
        return None;
    };
    let off = HEADER_LEN + 2 + at;
    let pointer = u32::try_from(off).ok()?;
    let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
    match opts[at] {
        option::JUMBO => {
            let data = opts.get(at + 1..at + 6)?;
            let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
            (data[0] == 4 && off % 4 == 2).then_some(if len <= 65535 {
                (HEADER_FIELD, pointer + 2)
            } else {
                (HEADER_FIELD, pointer)
            })
        }
        ty if ty >> 6 == 2 => Some((OPTION, pointer)),
        ty if ty >> 6 == 3 && !Ipv6Addr::from(dst).is_multicast() && !link_multicast => {
            Some((OPTION, pointer))
        }
        _ => None,
    }
}
