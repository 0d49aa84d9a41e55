//! The statement tree of keepalived.conf's lines: each line split into
//! words and braces ([`tokens`]), then a `{` opening the block of the
//! statement before it ([`build`]), as keepalived's `lib/parser.c`
//! `process_stream` reads them. Blocks nest at most [`MAX_BLOCK_DEPTH`] deep.

use super::lexer::{Stmt, blank};
use super::{KaError, Pos};

/// Deepest nesting of blocks (`virtual_server { real_server { HTTP_GET {
/// url { ... } } } }` is 4).
pub(super) const MAX_BLOCK_DEPTH: usize = 64;

/// A line's pieces: words, or a brace.
#[derive(Debug)]
pub(super) enum Tok {
    Words(Vec<String>, Pos),
    Open(Pos),
    Close(Pos),
}

/// Splits a line (quotes already checked) into words and braces. Inside
/// double quotes a backslash and the character after it are kept as they
/// are and do not close the quote: `notify_down "/bin/logger \"rs down\""`
/// is one word, as keepalived's `alloc_strvec_quoted_escaped` (`parser.c`)
/// reads a script's line; `lexer`'s `decomment` skips `\"` alike.
pub(super) fn tokens(line: &str, pos: &Pos, out: &mut Vec<Tok>) {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted: Option<String> = None;
    let flush = |cur: &mut String, words: &mut Vec<String>| {
        if !cur.is_empty() {
            words.push(std::mem::take(cur));
        }
    };
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if let Some(q) = quoted.as_mut() {
            match c {
                '"' => words.extend(quoted.take()),
                '\\' => {
                    q.push(c);
                    q.extend(chars.next());
                }
                c => q.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                flush(&mut cur, &mut words);
                quoted = Some(String::new());
            }
            '{' | '}' => {
                flush(&mut cur, &mut words);
                if !words.is_empty() {
                    out.push(Tok::Words(std::mem::take(&mut words), pos.clone()));
                }
                out.push(if c == '{' {
                    Tok::Open(pos.clone())
                } else {
                    Tok::Close(pos.clone())
                });
            }
            c if blank(c) => flush(&mut cur, &mut words),
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut words);
    if !words.is_empty() {
        out.push(Tok::Words(words, pos.clone()));
    }
}

/// Builds the statement tree: a `{` opens the block of the statement just
/// before it. A block nested deeper than [`MAX_BLOCK_DEPTH`] is an error at
/// its `{`: the tree is dropped (and walked) recursively, and a file of
/// `a {` lines would otherwise overflow the stack of the thread reading it.
/// keepalived keeps no tree (`process_stream` skips an unknown block by
/// counting its braces, `skip_sublevel`), so it has no such limit; its own
/// configurations nest 5 deep at most.
pub(super) fn build(toks: Vec<Tok>) -> Result<Vec<Stmt>, KaError> {
    // The statements of each open block, outermost first; the last is the
    // current one. The statement owning a block is the last of its parent.
    let mut levels: Vec<Vec<Stmt>> = vec![Vec::new()];
    let mut after_words = false;
    for t in toks {
        match t {
            Tok::Words(words, pos) => {
                if let Some(cur) = levels.last_mut() {
                    cur.push(Stmt {
                        words,
                        pos,
                        block: None,
                    });
                }
                after_words = true;
            }
            Tok::Open(pos) => {
                let owner_free = levels
                    .last()
                    .and_then(|l| l.last())
                    .is_some_and(|s| s.block.is_none());
                if !after_words || !owner_free {
                    return Err(KaError::at(&pos, "unexpected '{'"));
                }
                if levels.len() > MAX_BLOCK_DEPTH {
                    return Err(KaError::at(
                        &pos,
                        format!("blocks nested deeper than {MAX_BLOCK_DEPTH}"),
                    ));
                }
                levels.push(Vec::new());
                after_words = false;
            }
            Tok::Close(pos) => {
                if levels.len() < 2 {
                    return Err(KaError::at(&pos, "unexpected '}' (no block is open)"));
                }
                let inner = levels.pop().unwrap_or_default();
                if let Some(owner) = levels.last_mut().and_then(|l| l.last_mut()) {
                    owner.block = Some(inner);
                }
                after_words = false;
            }
        }
    }
    if levels.len() > 1 {
        // The owner of the innermost open block is the last statement of the
        // level above it.
        let n = levels.len();
        let owner = levels[n - 2]
            .last()
            .map(|s| (s.keyword().to_string(), s.pos.clone()));
        if let Some((kw, pos)) = owner {
            return Err(KaError::at(
                &pos,
                format!("missing '}}': the block of '{kw}' is not closed"),
            ));
        }
    }
    Ok(levels.pop().unwrap_or_default())
}
