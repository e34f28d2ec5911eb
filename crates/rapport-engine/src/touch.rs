//! Personal-touch text features of METRICS.md §5, as pure functions of text: normalization,
//! SimHash fingerprints, addressing the user by first name, deflection to private channels,
//! and content words shared with the inbound item being answered. Comparing a reply with the
//! brand's earlier replies is `simhash.rs`'s job; this module never keeps state.

use serde::{Deserialize, Serialize};

use crate::hash::{fmix64, hash_bytes, hash_short_word_lower, hash_word_lower, load_word_lower};

/// Content words kept per inbound item to compare with the reply (enough for ≥ 2 overlaps).
pub const MAX_CONTENT_WORDS: usize = 10;

const SHINGLE_SEED: u64 = 0x5EED_0010;
const EXACT_SEED: u64 = 0x5EED_0011;
const WORD_SEED: u64 = 0x5EED_0012;

/// Mask tokens; angle brackets cannot survive normalization otherwise, so they never collide
/// with real words.
const AT: &str = "<at>";
const URL: &str = "<url>";
const NUM: &str = "<num>";
const EMOJI: &str = "<emoji>";

fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF | 0x2300..=0x23FF | 0xFE0F | 0x200D | 0x20E3 | 0x3030 | 0x303D)
}

/// Case-insensitive prefix test on bytes: no lowercased copy of every token.
fn is_url(tok: &str) -> bool {
    let b = tok.as_bytes();
    // Most tokens fail on the first byte, and most others ("help", "why") on the second.
    if !matches!(b.first(), Some(b'h' | b'H' | b'w' | b'W'))
        || !matches!(b.get(1), Some(b't' | b'T' | b'w' | b'W'))
    {
        return false;
    }
    let has = |p: &[u8]| b.get(..p.len()).is_some_and(|x| x.eq_ignore_ascii_case(p));
    has(b"http://") || has(b"https://") || has(b"www.")
}

/// A trailing agent signature: `^AB`, `*SR`, `-Name`, `–Name`, `~Jo` (1–12 letters).
fn is_signature(tok: &str) -> bool {
    let mut chars = tok.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !matches!(first, '^' | '*' | '-' | '–' | '—' | '~') {
        return false;
    }
    // Letters and dots only, with 1 to 12 letters; one pass, no buffer of the chars.
    let mut letters = 0usize;
    for c in chars {
        if c.is_alphabetic() {
            letters += 1;
        } else if c != '.' {
            return false;
        }
    }
    (1..=12).contains(&letters)
}

fn is_lone_dash(tok: &str) -> bool {
    matches!(tok, "-" | "–" | "—" | "~" | "^" | "*")
}

/// Normalized tokens of a text, written into one buffer: `text` holds the tokens separated
/// by single spaces, `ends` the end offset of each token. Avoids one allocation per token on
/// the hot path. `text` is UTF-8 (it is built from whole `str`s and lowercased ASCII words)
/// but kept as bytes, so an ASCII word is appended lowercased eight bytes at a time.
#[derive(Debug, Default)]
pub struct Tokens {
    pub text: Vec<u8>,
    ends: Vec<usize>,
    /// Each token's bytes packed little-endian into a `u64` when it has at most 8 bytes,
    /// else 0 (which no token of 1 to 8 bytes packs to: tokens hold no NUL byte): the
    /// deflection and name scans compare one integer per token instead of a slice.
    packed: Vec<u64>,
    /// The addressed user's first name, reused across replies.
    name: String,
    /// The word being built by the general tokenizer.
    word: String,
    /// Content-word values of recently seen short words.
    memo: WordMemo,
}

/// Slots of [`WordMemo`] (16 bytes each).
const MEMO_BITS: u32 = 10;
/// [`WordMemo`] value of a stop word (content-word values are 16-bit).
const MEMO_STOP: u32 = 1 << 16;

/// What [`WordSink`] makes of a word of 3 to 8 bytes, by the word: its 16-bit content-word
/// value, or that it is a stop word. A direct-mapped table of the words' packed lowercase
/// bytes (distinct words pack distinctly and never to 0, the empty slot), so a repeated
/// word costs one multiply and one compare instead of the stop-word probe and three
/// finalizers. Word frequencies are skewed (a few hundred words make up most of any text),
/// so most words hit. Allocated at the first word (16 KiB), a cache only: never snapshotted.
#[derive(Debug, Default)]
struct WordMemo(Option<Box<[(u64, u32); 1 << MEMO_BITS]>>);

impl WordMemo {
    /// The value of the word of `len` bytes whose lowercase packs to `lower`.
    #[inline]
    fn value(&mut self, lower: u64, len: usize) -> u32 {
        if let Some(slots) = &self.0 {
            let e = slots[WordMemo::slot(lower)];
            if e.0 == lower {
                return e.1;
            }
        }
        self.fill(lower, len)
    }

    #[inline]
    fn slot(lower: u64) -> usize {
        (lower.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_BITS)) as usize
    }

    /// The miss path, out of line so the hit path needs few registers.
    #[cold]
    #[inline(never)]
    fn fill(&mut self, lower: u64, len: usize) -> u32 {
        let slots = self
            .0
            .get_or_insert_with(|| Box::new([(0, 0); 1 << MEMO_BITS]));
        let e = &mut slots[WordMemo::slot(lower)];
        let v = if is_stopword_packed(lower) {
            MEMO_STOP
        } else {
            u32::from(fmix64(hash_short_word_lower(WORD_SEED, lower, len)) as u16)
        };
        *e = (lower, v);
        v
    }
}

impl Tokens {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // A running start offset: no lookup of the previous end per token.
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let t = &self.text[start..end];
            start = end + 1;
            t
        })
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.packed.clear();
    }

    /// Ends the token that started at `start` (the packed form computed from its bytes).
    fn end_token(&mut self, start: usize) {
        self.packed
            .push(pack_word(&self.text[start..], false).unwrap_or(0));
        self.ends.push(self.text.len());
    }

    /// Whether a token equals `w` (not empty).
    fn contains(&self, w: &[u8]) -> bool {
        match pack_word(w, false) {
            Some(p) if p != 0 => self.packed.contains(&p),
            _ => self.iter().any(|t| t == w),
        }
    }

    fn push_mask(&mut self, m: &str) {
        self.begin();
        let start = self.text.len();
        self.text.extend_from_slice(m.as_bytes());
        self.end_token(start);
    }

    /// Appends a token of `len` ≤ 8 bytes packed little-endian in `lower` (one 8-byte
    /// store, cut back to the token).
    #[inline(always)]
    fn push_packed(&mut self, lower: u64, len: usize) {
        self.begin();
        let to = self.text.len() + len;
        self.text.extend_from_slice(&lower.to_le_bytes());
        self.text.truncate(to);
        self.ends.push(to);
        self.packed.push(lower);
    }

    fn begin(&mut self) {
        if !self.ends.is_empty() {
            self.text.push(b' ');
        }
    }

    /// The normalized text as a `str` (`None` cannot happen: see the type's docs).
    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.text).ok()
    }
}

/// Appends `text[start..end]`, ASCII letters and apostrophes, lowercased (`| 0x20` maps both
/// onto themselves or their lowercase), eight bytes per load and store where the text
/// reaches that far: the bytes a last load takes past the word are cut off after.
#[inline]
fn push_lower(out: &mut Vec<u8>, text: &[u8], start: usize, end: usize) {
    let to = out.len() + (end - start);
    let mut i = start;
    while i < end {
        let Some(c) = text.get(i..i + 8) else {
            out.extend(text[i..end].iter().map(|&c| c | 0x20));
            break;
        };
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        out.extend_from_slice(&(u64::from_le_bytes(w) | (0x20 * ONES)).to_le_bytes());
        i += 8;
    }
    out.truncate(to);
}

/// `(text before the last whitespace-separated token, that token)`, or `None` if there is
/// no token. Splits exactly where `split_whitespace` would.
fn split_last(text: &str) -> Option<(&str, &str)> {
    let t = text.trim_end();
    if t.is_empty() {
        return None;
    }
    match t.char_indices().rev().find(|&(_, c)| c.is_whitespace()) {
        Some((i, c)) => Some((&t[..i], &t[i + c.len_utf8()..])),
        None => Some(("", t)),
    }
}

/// `text` without a trailing agent signature (`^AB`, or a lone dash then a capitalised name).
/// A signature or dash never starts with `@`, so the leading-handle rule cannot overlap it.
fn strip_signature(text: &str) -> &str {
    let Some((rest, last)) = split_last(text) else {
        return text;
    };
    if is_signature(last) {
        return rest;
    }
    // The tests on the last token first: most texts do not end in a capitalised word, and
    // then the token before it is not looked for.
    if last.chars().next().is_some_and(char::is_uppercase) && last.chars().all(char::is_alphabetic)
    {
        if let Some((rest2, dash)) = split_last(rest) {
            if is_lone_dash(dash) {
                // "- Sarah": a dash, then a capitalised name.
                return rest2;
            }
        }
    }
    text
}

/// `text.split_whitespace()`, testing ASCII bytes through the byte class table and decoding
/// only non-ASCII characters (texts are mostly ASCII even when they hold an emoji).
fn split_ws(text: &str) -> SplitWs<'_> {
    SplitWs { text, i: 0 }
}

struct SplitWs<'a> {
    text: &'a str,
    /// A char boundary: where the next search starts.
    i: usize,
}

impl SplitWs<'_> {
    /// The length of the character at `i` if it is whitespace, else 0.
    #[inline(always)]
    fn ws_at(&self, i: usize) -> usize {
        let c = self.text.as_bytes()[i];
        if c < 0x80 {
            return usize::from(is_ascii_ws(c));
        }
        match self.text[i..].chars().next() {
            Some(ch) if ch.is_whitespace() => ch.len_utf8(),
            _ => 0,
        }
    }
}

impl<'a> Iterator for SplitWs<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        let mut i = self.i;
        while i < b.len() {
            let n = self.ws_at(i);
            if n == 0 {
                break;
            }
            i += n;
        }
        if i >= b.len() {
            self.i = i;
            return None;
        }
        let start = i;
        while i < b.len() {
            i = printable_run_end(b, i);
            let Some(&c) = b.get(i) else {
                break;
            };
            if c < 0x80 {
                if is_ascii_ws(c) {
                    break;
                }
                i += 1;
            } else {
                let Some(ch) = self.text[i..].chars().next() else {
                    break;
                };
                if ch.is_whitespace() {
                    break;
                }
                i += ch.len_utf8();
            }
        }
        self.i = i;
        Some(&self.text[start..i])
    }
}

/// The first index from `i` on whose byte is not printable ASCII (0x21 to 0x7F: no
/// whitespace, no control character, no byte of a multi-byte character), eight bytes at a
/// time: tokens are mostly such runs. Stops early at the last 8 bytes; the caller's byte
/// loop takes what is left.
#[inline(always)]
fn printable_run_end(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        // Low seven bits + 0x5F reaches 0x80 exactly from 0x21 on, with no carry out of
        // the byte; bytes with the high bit set are cut by `!w`.
        let stop = !(((w & (0x7F * ONES)) + 0x5F * ONES) & !w) & HIGHS;
        if stop != 0 {
            return i + (stop.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// Normalizes a text (METRICS.md §5): leading @handles dropped; other handles, URLs, numbers
/// and emoji masked; a trailing agent signature dropped; lowercase; punctuation other than
/// in-word apostrophes removed.
pub fn tokenize(text: &str) -> Tokens {
    let mut out = Tokens::default();
    tokenize_into(text, &mut out);
    out
}

/// [`tokenize`] into a reused buffer: the engine tokenizes every text at intake, and two
/// allocations per text were a measurable share of its time.
pub fn tokenize_into(text: &str, out: &mut Tokens) {
    out.clear();
    if text.is_ascii() {
        scan_ascii(text, out);
    } else {
        let mut word = std::mem::take(&mut out.word);
        tokenize_general(text, out, &mut word);
        out.word = word;
    }
}

/// The definition of the normalization, for any text (the ASCII scanner must agree with it).
/// All-ASCII tokens go through the ASCII scanner's per-character rules; a word of another
/// token is built lowercased in `word` (a reused buffer) and handed to the sink whole, so
/// sinks that only need the content words never build the normalized text.
fn tokenize_general(text: &str, sink: &mut impl AsciiSink, word: &mut String) {
    let mut out = Track {
        sink,
        last_emoji: false,
    };
    let body = strip_signature(text);
    let mut leading = true;
    let mut toks = split_ws(body);
    while let Some(tok) = toks.next() {
        // `next` leaves its position at the token's end.
        let (from, to) = (toks.i - tok.len(), toks.i);
        if leading && tok.starts_with('@') {
            continue;
        }
        leading = false;
        if tok.starts_with('@') {
            if !out.mask(AT) {
                return;
            }
            continue;
        }
        if is_url(tok) {
            if !out.mask(URL) {
                return;
            }
            continue;
        }
        if tok.is_ascii() {
            if !scan_ascii_token(body, from, to, &mut out) {
                return;
            }
            continue;
        }
        // A word is open while `word` is not empty: it starts with a letter, and a letter
        // lowercases to at least one character.
        word.clear();
        let mut chars = tok.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_alphabetic() || (c == '\'' && !word.is_empty()) {
                if c.is_ascii() {
                    // Same result as `to_lowercase` for ASCII, without the iterator.
                    word.push(c.to_ascii_lowercase());
                } else {
                    word.extend(c.to_lowercase());
                }
            } else {
                if !close_word(&mut out, word) {
                    return;
                }
                if c.is_ascii_digit() {
                    while chars
                        .peek()
                        .is_some_and(|d| d.is_ascii_digit() || *d == '.' || *d == ',')
                    {
                        chars.next();
                    }
                    if !out.mask(NUM) {
                        return;
                    }
                } else if is_emoji(c) {
                    while chars.peek().is_some_and(|&d| is_emoji(d)) {
                        chars.next();
                    }
                    if !out.last_emoji && !out.mask(EMOJI) {
                        return;
                    }
                }
            }
        }
        if !close_word(&mut out, word) {
            return;
        }
    }
}

/// Hands the open word (if any) to the sink without its trailing apostrophes, and empties it.
fn close_word(out: &mut impl AsciiSink, word: &mut String) -> bool {
    while word.ends_with('\'') {
        word.pop();
    }
    let go = word.is_empty() || out.unicode_word(word);
    word.clear();
    go
}

/// Passes tokens on, remembering whether the last one was the emoji mask (a run of emoji
/// across tokens is masked once).
struct Track<'a, S> {
    sink: &'a mut S,
    last_emoji: bool,
}

impl<S: AsciiSink> AsciiSink for Track<'_, S> {
    fn mask(&mut self, m: &'static str) -> bool {
        self.last_emoji = m == EMOJI;
        self.sink.mask(m)
    }

    fn word(&mut self, text: &str, start: usize, end: usize) -> bool {
        self.last_emoji = false;
        self.sink.word(text, start, end)
    }

    #[inline(always)]
    fn short_word(&mut self, text: &str, start: usize, end: usize, lower: u64) -> bool {
        self.last_emoji = false;
        self.sink.short_word(text, start, end, lower)
    }

    fn unicode_word(&mut self, w: &str) -> bool {
        self.last_emoji = false;
        self.sink.unicode_word(w)
    }
}

/// Receives the tokens of an all-ASCII text in order: masks, and words as slices of the
/// original text (letters and in-word apostrophes, not yet lowercased). Returning `false`
/// stops the scan.
trait AsciiSink {
    fn mask(&mut self, m: &'static str) -> bool;
    /// The word `text[start..end]`; `text` is passed whole so a sink may load whole 8-byte
    /// words around it instead of copying it byte by byte.
    fn word(&mut self, text: &str, start: usize, end: usize) -> bool;
    /// [`AsciiSink::word`] for a word of at most 8 bytes, with its lowercase bytes packed
    /// little-endian into `lower` (from the scanner's load that found the word's end, or, for
    /// a word handed on by `word`, from a load of its own).
    fn short_word(&mut self, text: &str, start: usize, end: usize, lower: u64) -> bool;
    /// A word of a non-ASCII token, already lowercased, without trailing apostrophes.
    fn unicode_word(&mut self, w: &str) -> bool;
}

impl AsciiSink for Tokens {
    fn mask(&mut self, m: &'static str) -> bool {
        self.push_mask(m);
        true
    }

    fn word(&mut self, text: &str, start: usize, end: usize) -> bool {
        self.begin();
        let at = self.text.len();
        push_lower(&mut self.text, text.as_bytes(), start, end);
        self.end_token(at);
        true
    }

    #[inline]
    fn short_word(&mut self, _: &str, start: usize, end: usize, lower: u64) -> bool {
        self.push_packed(lower, end - start);
        true
    }

    fn unicode_word(&mut self, w: &str) -> bool {
        self.begin();
        let at = self.text.len();
        self.text.extend_from_slice(w.as_bytes());
        self.end_token(at);
        true
    }
}

/// `char::is_whitespace` restricted to ASCII (tab, LF, VT, FF, CR, space).
#[inline]
fn is_ascii_ws(b: u8) -> bool {
    CLASS[usize::from(b)] & C_WS != 0
}

/// Byte classes of the ASCII scanner, one table lookup per byte instead of range tests.
const C_WS: u8 = 1;
const C_ALPHA: u8 = 2;
const C_APOS: u8 = 4;
const C_DIGIT: u8 = 8;
/// `.` and `,`, which continue a number.
const C_NUMSEP: u8 = 16;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c == b' ' || (c >= b'\t' && c <= b'\r') {
            C_WS
        } else if c.is_ascii_alphabetic() {
            C_ALPHA
        } else if c == b'\'' {
            C_APOS
        } else if c.is_ascii_digit() {
            C_DIGIT
        } else if c == b'.' || c == b',' {
            C_NUMSEP
        } else {
            0
        };
        i += 1;
    }
    t
};

#[inline]
fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each lane of `w` (eight ASCII bytes) that holds an ASCII letter. `| 0x20`
/// folds case; a letter is then 0x61..=0x7A: high bit of `x + 0x1F` set (x ≥ 0x61) and of
/// `x + 0x05` clear (x < 0x7B). Only the high bits are meaningful, and only for ASCII lanes: a
/// byte ≥ 0x80 would carry into the next lane.
#[inline(always)]
fn letter_lanes(w: u64) -> u64 {
    let x = w | (0x20 * ONES);
    (x + 0x1F * ONES) & !(x + 0x05 * ONES)
}

/// The high bit of each lane of `w` (eight ASCII bytes) equal to `c`: the lane's xor with `c`
/// is zero, so `y + 0x7F` keeps its high bit clear. Same conditions as [`letter_lanes`].
#[inline(always)]
fn byte_lanes(w: u64, c: u8) -> u64 {
    !((w ^ (u64::from(c) * ONES)) + 0x7F * ONES)
}

/// The first index from `i` on whose byte is neither an ASCII letter nor an apostrophe (`n`
/// if none), eight bytes at a time: words are the scanner's most common run. The bytes are
/// ASCII (high bit clear), so per-byte additions never carry into the next byte.
#[inline]
fn word_run_end(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        let stop = !(letter_lanes(w) | byte_lanes(w, b'\'')) & HIGHS;
        if stop != 0 {
            return i + (stop.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && class(b[i]) & (C_ALPHA | C_APOS) != 0 {
        i += 1;
    }
    i
}

/// The 8 bytes of `b` from `start` as a little-endian word, in one load; near the end of
/// `b` its last 8 bytes shifted down, so the lanes past the end read as zero bytes. `None`
/// when `b` is shorter than 8 bytes.
#[inline(always)]
fn load8_at(b: &[u8], start: usize) -> Option<u64> {
    let mut w = [0u8; 8];
    if let Some(c) = b.get(start..start + 8) {
        w.copy_from_slice(c);
        return Some(u64::from_le_bytes(w));
    }
    w.copy_from_slice(b.len().checked_sub(8).map(|s| &b[s..])?);
    Some(u64::from_le_bytes(w) >> (8 * (start + 8 - b.len())))
}

/// The word that starts with the letter at `start`, from one 8-byte load when it ends
/// within it: `(end of its run of letters and apostrophes, end of the word without
/// trailing apostrophes, the word's lowercase bytes packed little-endian)`. `None` when the
/// run reaches 8 bytes or `b` is shorter than 8 bytes (the byte-wise path takes those).
/// Near the end of `b` the load is its last 8 bytes shifted down, so the lanes past the
/// end read as zero bytes, which stop the run. The bytes from `start` to the end of `b`
/// must be ASCII (lanes before `start` are shifted out before any lane arithmetic).
#[inline(always)]
fn short_word_at(b: &[u8], start: usize) -> Option<(usize, usize, u64)> {
    let w = load8_at(b, start)?;
    let letters = letter_lanes(w) & HIGHS;
    let stop = !(letters | byte_lanes(w, b'\'')) & HIGHS;
    if stop == 0 {
        return None;
    }
    // Lane 0 is a letter, so the run is 1 to 7 bytes long, and the word ends after the
    // run's last letter.
    let run = (stop.trailing_zeros() / 8) as usize;
    debug_assert!(run > 0, "short_word_at called on a byte that is no letter");
    let letters = letters & (u64::MAX >> (64 - 8 * run));
    let len = ((64 - letters.leading_zeros()) / 8) as usize;
    let lower = (w | (0x20 * ONES)) & (u64::MAX >> (64 - 8 * len));
    Some((start + run, start + len, lower))
}

/// The start of the run of ASCII letters and dots that ends at `j`, eight bytes at a time
/// backwards (the last word of a text is usually longer than a byte loop's setup). The bytes
/// are ASCII, as in [`word_run_end`].
#[inline]
fn letters_dots_start(b: &[u8], mut j: usize) -> usize {
    while let Some(c) = j.checked_sub(8).and_then(|s| b.get(s..j)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        let stop = !(letter_lanes(w) | byte_lanes(w, b'.')) & HIGHS;
        if stop != 0 {
            // The highest lane is the byte just before `j`: the run starts after the
            // nearest stop byte.
            return j - (stop.leading_zeros() / 8) as usize;
        }
        j -= 8;
    }
    while j > 0 && (class(b[j - 1]) & C_ALPHA != 0 || b[j - 1] == b'.') {
        j -= 1;
    }
    j
}

/// [`tokenize_into`]'s rules for an all-ASCII text in one pass over its bytes, with no copy
/// of the text: where every character is one byte, words are contiguous runs of the input,
/// so a sink can hash them in place. Each byte is classified once (tokens are not found
/// first and re-walked). Must stay equivalent to the general path (tested).
fn scan_ascii(text: &str, sink: &mut impl AsciiSink) {
    let body = strip_signature_ascii(text);
    let b = body.as_bytes();
    let n = b.len();
    let mut leading = true;
    let mut i = 0;
    loop {
        // Past the whitespace, keeping the class of the token's first byte for the rules
        // below (each byte is classified once).
        let mut cl = loop {
            let Some(&c) = b.get(i) else {
                return;
            };
            let cl = class(c);
            if cl & C_WS == 0 {
                break cl;
            }
            i += 1;
        };
        let c = b[i];
        // Handles and URLs are whole tokens; their prefixes hold no whitespace, so testing
        // them on the rest of the text is testing them on the token.
        let whole = if c == b'@' {
            if leading {
                None
            } else {
                Some(AT)
            }
        } else {
            leading = false;
            // `is_url`'s own first two tests, here so the common case makes no call: many
            // words start with `h` or `w` ("have", "when", "with"), few go on with `t`/`w`.
            (matches!(c, b'h' | b'H' | b'w' | b'W')
                && matches!(b.get(i + 1), Some(b't' | b'T' | b'w' | b'W'))
                && is_url(&body[i..]))
            .then_some(URL)
        };
        if c == b'@' || whole.is_some() {
            while i < n && class(b[i]) & C_WS == 0 {
                i += 1;
            }
            if let Some(m) = whole {
                if !sink.mask(m) {
                    return;
                }
            }
            continue;
        }
        // The per-character rules up to the end of the token; `cl` is the class of `b[i]`,
        // which is no whitespace.
        loop {
            if cl & C_ALPHA != 0 {
                let go;
                (i, go) = ascii_word(b, body, i, sink);
                if !go {
                    return;
                }
            } else {
                i += 1;
                if cl & C_DIGIT != 0 {
                    while i < n && class(b[i]) & (C_DIGIT | C_NUMSEP) != 0 {
                        i += 1;
                    }
                    if !sink.mask(NUM) {
                        return;
                    }
                }
            }
            let Some(&c) = b.get(i) else {
                return;
            };
            cl = class(c);
            if cl & C_WS != 0 {
                // Known whitespace: the skip at the top starts after it.
                i += 1;
                break;
            }
        }
    }
}

/// Hands the ASCII word starting with the letter `b[start]` to the sink (`b` is a prefix of
/// `text`'s bytes); returns where the word's run ends and whether the sink wants more.
#[inline(always)]
fn ascii_word(b: &[u8], text: &str, start: usize, sink: &mut impl AsciiSink) -> (usize, bool) {
    if let Some((run, end, lower)) = short_word_at(b, start) {
        return (run, sink.short_word(text, start, end, lower));
    }
    let run = word_run_end(b, start + 1);
    // Trailing apostrophes are not part of the word; it starts with a letter, so something is
    // left.
    let mut end = run;
    while b[end - 1] == b'\'' {
        end -= 1;
    }
    (run, sink.word(text, start, end))
}

/// The per-character rules for one all-ASCII token, `text[from..to]`: ASCII letters
/// lowercase to ASCII and no ASCII character is an emoji. Words go to the sink as ranges of
/// the whole text, so its 8-byte loads may read past a short token (masked to the word).
fn scan_ascii_token(text: &str, from: usize, to: usize, sink: &mut impl AsciiSink) -> bool {
    let b = &text.as_bytes()[..to];
    let mut i = from;
    while i < b.len() {
        let cl = class(b[i]);
        if cl & C_ALPHA != 0 {
            // `b` ends with the token, so the load sees only its ASCII bytes.
            let go;
            (i, go) = ascii_word(b, text, i, sink);
            if !go {
                return false;
            }
        } else {
            i += 1;
            if cl & C_DIGIT != 0 {
                while i < b.len() && class(b[i]) & (C_DIGIT | C_NUMSEP) != 0 {
                    i += 1;
                }
                if !sink.mask(NUM) {
                    return false;
                }
            }
        }
    }
    true
}

/// `(text before the last whitespace-separated token, that token)` of an ASCII text.
fn split_last_ascii(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let end = b.iter().rposition(|&c| !is_ascii_ws(c))? + 1;
    match b[..end].iter().rposition(|&c| is_ascii_ws(c)) {
        Some(i) => Some((&text[..i], &text[i + 1..end])),
        None => Some(("", &text[..end])),
    }
}

/// [`strip_signature`] for an ASCII text (the `–`/`—` forms cannot occur).
///
/// Most texts keep their last token, and that is decided from the bytes before the end of
/// the text without splitting it off: walk back over letters and dots (the only bytes a
/// signature's tail or a capitalised name holds) to the first other byte `x`. If `x` is
/// whitespace, the last token is made of letters and dots, so it is no signature (which
/// starts with a mark) and is a name only if it starts with a capital letter. If `x` is
/// anything but whitespace or a signature mark, the last token holds `x`, which no
/// signature (marks only first, then letters and dots) and no name (letters only) holds.
/// Only the remaining texts take the full rules.
#[inline]
fn strip_signature_ascii(text: &str) -> &str {
    let b = text.as_bytes();
    let mut j = b.len();
    while j > 0 && class(b[j - 1]) & C_WS != 0 {
        j -= 1;
    }
    let end = j;
    let j = letters_dots_start(b, j);
    if j > 0 && j < end {
        let x = b[j - 1];
        let keeps = if class(x) & C_WS != 0 {
            !b[j].is_ascii_uppercase()
        } else {
            !matches!(x, b'^' | b'*' | b'-' | b'~')
        };
        if keeps {
            return text;
        }
    } else if j > 0 && !matches!(b[j - 1], b'^' | b'*' | b'-' | b'~') {
        // The last byte is neither whitespace, a letter nor a dot: it is part of the last
        // token (a signature ends in a letter or dot, a name in a letter).
        return text;
    }
    strip_signature_ascii_full(text)
}

/// [`strip_signature_ascii`]'s rules for the texts its byte test cannot settle.
#[inline(never)]
fn strip_signature_ascii_full(text: &str) -> &str {
    let Some((rest, last)) = split_last_ascii(text) else {
        return text;
    };
    // `is_signature`'s own first test, on the byte (the other marks are not ASCII).
    if matches!(last.as_bytes()[0], b'^' | b'*' | b'-' | b'~') && is_signature(last) {
        return rest;
    }
    // The cheap tests on the last token first: most texts do not end in a capitalised word.
    let l = last.as_bytes();
    if l[0].is_ascii_uppercase() && l.iter().all(u8::is_ascii_alphabetic) {
        if let Some((rest2, dash)) = split_last_ascii(rest) {
            if is_lone_dash(dash) {
                return rest2;
            }
        }
    }
    text
}

/// Collects content words straight from the scanner (inbound items need nothing else).
/// `seen` has bit `h % 64` set for each kept hash `h`: most new words miss it, so the
/// distinct-word check rarely walks the list.
struct WordSink<'m> {
    words: ContentWords,
    seen: u64,
    memo: &'m mut WordMemo,
}

impl<'m> WordSink<'m> {
    fn new(memo: &'m mut WordMemo) -> Self {
        WordSink {
            words: ContentWords::default(),
            seen: 0,
            memo,
        }
    }

    /// A word of 3 to 8 bytes whose lowercase packs to `lower`: kept unless a stop word.
    #[inline(always)]
    fn short_word(&mut self, lower: u64, len: usize) {
        let v = self.memo.value(lower, len);
        if v != MEMO_STOP {
            self.keep(v as u16);
        }
    }

    /// Adds a word hash unless it is there already; the caller checks there is room.
    #[inline]
    fn keep(&mut self, h: u16) {
        let bit = 1u64 << (h & 63);
        let cw = &mut self.words;
        if self.seen & bit == 0 || !cw.as_slice().contains(&h) {
            self.seen |= bit;
            cw.words[usize::from(cw.len)] = h;
            cw.len += 1;
        }
    }
}

/// Tokens of a reply and its content words from one scan; the words stop at
/// [`MAX_CONTENT_WORDS`], the tokens do not.
struct ReplySink<'a, 'm> {
    tokens: &'a mut Tokens,
    words: WordSink<'m>,
}

impl AsciiSink for ReplySink<'_, '_> {
    fn mask(&mut self, m: &'static str) -> bool {
        self.tokens.mask(m)
    }

    #[inline(always)]
    fn word(&mut self, text: &str, start: usize, end: usize) -> bool {
        let len = end - start;
        if len > 8 {
            if usize::from(self.words.words.len) < MAX_CONTENT_WORDS {
                self.words.word(text, start, end);
            }
            return self.tokens.word(text, start, end);
        }
        // Most words: one load serves the content word and the token.
        let lower = load_word_lower_at(text.as_bytes(), start, end);
        self.short_word(text, start, end, lower)
    }

    #[inline(always)]
    fn short_word(&mut self, _: &str, start: usize, end: usize, lower: u64) -> bool {
        let len = end - start;
        if len >= 3 && usize::from(self.words.words.len) < MAX_CONTENT_WORDS {
            self.words.short_word(lower, len);
        }
        self.tokens.push_packed(lower, len);
        true
    }

    fn unicode_word(&mut self, w: &str) -> bool {
        if usize::from(self.words.words.len) < MAX_CONTENT_WORDS {
            self.words.unicode_word(w);
        }
        self.tokens.unicode_word(w)
    }
}

/// [`load_word_lower`] of `text[start..end]` (1 to 8 bytes of ASCII letters and
/// apostrophes) with one 8-byte load from the text where it is long enough, masked to the
/// word, instead of a byte loop.
#[inline(always)]
fn load_word_lower_at(text: &[u8], start: usize, end: usize) -> u64 {
    let len = end - start;
    debug_assert!((1..=8).contains(&len));
    let keep = u64::MAX >> (8 * (8 - len));
    match load8_at(text, start) {
        Some(w) => (w | (0x20 * ONES)) & keep,
        None => load_short_text_word(&text[start..end]),
    }
}

/// The content-word value of a word longer than 8 bytes (rare; out of line so the common
/// short word's path needs few registers).
#[inline(never)]
fn long_word_value(b: &[u8]) -> u16 {
    fmix64(hash_word_lower(WORD_SEED, b)) as u16
}

/// [`load_word_lower`] for a text shorter than 8 bytes (rare; out of line, a byte loop).
#[inline(never)]
fn load_short_text_word(b: &[u8]) -> u64 {
    load_word_lower(b)
}

impl AsciiSink for WordSink<'_> {
    fn mask(&mut self, _: &'static str) -> bool {
        true
    }

    #[inline(always)]
    fn word(&mut self, text: &str, start: usize, end: usize) -> bool {
        let b = &text.as_bytes()[start..end];
        // The scanner's words are ASCII letters and apostrophes only, so the cheap
        // word-at-a-time lowercasing of `load_word_lower`/`hash_word_lower` applies.
        debug_assert!(b.iter().all(|c| c.is_ascii_alphabetic() || *c == b'\''));
        if b.len() > 8 {
            self.keep(long_word_value(b));
        } else if b.len() >= 3 {
            // One load serves the stop-word test and the hash (through the memo).
            let lower = load_word_lower_at(text.as_bytes(), start, end);
            self.short_word(lower, b.len());
        }
        usize::from(self.words.len) < MAX_CONTENT_WORDS
    }

    #[inline(always)]
    fn short_word(&mut self, _: &str, start: usize, end: usize, lower: u64) -> bool {
        if end - start >= 3 {
            WordSink::short_word(self, lower, end - start);
        }
        usize::from(self.words.len) < MAX_CONTENT_WORDS
    }

    /// The rules of [`ContentWords::from_tokens`] for one word.
    fn unicode_word(&mut self, w: &str) -> bool {
        let b = w.as_bytes();
        if b.len() >= 3 && w.chars().nth(2).is_some() && !is_stopword_ascii_lower(b, false) {
            self.keep(fmix64(hash_bytes(WORD_SEED, b)) as u16);
        }
        usize::from(self.words.len) < MAX_CONTENT_WORDS
    }
}

/// Stop words packed little-endian into a `u64` (all are at most 8 bytes; no word packs to
/// 0), in an open-addressing table built at compile time: a lookup is one multiply and
/// usually one probe (78 words in 256 slots), with no sorted search behind a filter and no
/// lazy initialisation to check.
const STOP_SLOTS: usize = 256;

#[inline]
const fn stop_slot(p: u64) -> usize {
    (p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

static STOP_TABLE: [u64; STOP_SLOTS] = {
    let mut t = [0u64; STOP_SLOTS];
    let mut k = 0;
    while k < STOPWORDS.len() {
        let w = STOPWORDS[k].as_bytes();
        assert!(!w.is_empty() && w.len() <= 8);
        let mut p = 0u64;
        let mut j = 0;
        while j < w.len() {
            p |= (w[j] as u64) << (8 * j);
            j += 1;
        }
        let mut i = stop_slot(p);
        while t[i] != 0 && t[i] != p {
            i = (i + 1) % STOP_SLOTS;
        }
        t[i] = p;
        k += 1;
    }
    t
};

#[cfg(test)]
fn packed_stopwords() -> Vec<u64> {
    STOP_TABLE.iter().copied().filter(|&p| p != 0).collect()
}

/// Up to 8 bytes as one integer (optionally lowercased); `None` if longer. Words contain no
/// NUL bytes, so words of different lengths never pack alike.
#[inline]
fn pack_word(w: &[u8], lower: bool) -> Option<u64> {
    if w.len() > 8 {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[..w.len()].copy_from_slice(w);
    if lower {
        buf.make_ascii_lowercase();
    }
    Some(u64::from_le_bytes(buf))
}

#[inline]
fn is_stopword_ascii_lower(w: &[u8], lower: bool) -> bool {
    pack_word(w, lower).is_some_and(is_stopword_packed)
}

#[inline]
fn is_stopword_packed(p: u64) -> bool {
    let mut i = stop_slot(p);
    loop {
        let t = STOP_TABLE[i];
        if t == p {
            return p != 0;
        }
        if t == 0 {
            return false;
        }
        i = (i + 1) % STOP_SLOTS;
    }
}

/// The normalized text: tokens joined by single spaces.
pub fn normalize(text: &str) -> String {
    let t = tokenize(text);
    t.as_str().map(str::to_owned).unwrap_or_default()
}

/// Per-bit vote counts of a SimHash, bit-sliced. Shingles are taken four at a time through
/// a carry-save adder (Harley–Seal): `ones` and `twos` hold, per bit, the weight-1 and
/// weight-2 digits of the count so far, and each group of four yields one word of weight-4
/// carries. Only those carries go into the byte lanes (byte `j` of `lanes[k]` counts the
/// carries of bit `8j + k`), so the eight shift-mask-adds are paid once per four shingles
/// instead of once per shingle (this loop was the largest single cost of analysing a
/// reply). Lanes are flushed into `counts` before a byte can overflow.
struct Votes {
    /// The shingles of the group being filled: the first `n % 4`.
    buf: [u64; 4],
    ones: u64,
    twos: u64,
    lanes: [u64; 8],
    /// Groups in the lanes since the last flush.
    pending: u32,
    /// Flushed counts of the weight-4 carries, per bit; allocated at the first flush
    /// (over a thousand shingles), so a short text does not zero it.
    counts: Option<Box<[u32; 64]>>,
    n: u32,
}

impl Votes {
    const LANE_MASK: u64 = 0x0101_0101_0101_0101;

    fn new() -> Self {
        Votes {
            buf: [0; 4],
            ones: 0,
            twos: 0,
            lanes: [0; 8],
            pending: 0,
            counts: None,
            n: 0,
        }
    }

    #[inline(always)]
    fn add(&mut self, h: u64) {
        let i = (self.n & 3) as usize;
        self.buf[i] = h;
        self.n += 1;
        if i == 3 {
            self.fold();
        }
    }

    /// Adds the full group in `buf`: `ones + a + b` gives a new weight-1 digit and a
    /// weight-2 carry (a full adder per bit), likewise with `c`, `d`, and the two weight-2
    /// carries with `twos` give a new weight-2 digit and a weight-4 carry.
    #[inline(always)]
    fn fold(&mut self) {
        let [a, b, c, d] = self.buf;
        let u = self.ones ^ a;
        let twos_a = (self.ones & a) | (u & b);
        let ones = u ^ b;
        let u = ones ^ c;
        let twos_b = (ones & c) | (u & d);
        self.ones = u ^ d;
        let u = self.twos ^ twos_a;
        let fours = (self.twos & twos_a) | (u & twos_b);
        self.twos = u ^ twos_b;
        for (k, lane) in self.lanes.iter_mut().enumerate() {
            *lane += (fours >> k) & Self::LANE_MASK;
        }
        self.pending += 1;
        if self.pending == 255 {
            self.flush();
        }
    }

    #[cold]
    fn flush(&mut self) {
        let counts = self.counts.get_or_insert_with(|| Box::new([0; 64]));
        for (k, lane) in self.lanes.iter_mut().enumerate() {
            for j in 0..8 {
                counts[8 * j + k] += ((*lane >> (8 * j)) & 0xFF) as u32;
            }
            *lane = 0;
        }
        self.pending = 0;
    }

    /// Bit `b` is set when more shingles voted 1 than 0 for it (ties give 0).
    fn finish(&mut self) -> u64 {
        let rest = &self.buf[..(self.n & 3) as usize];
        if self.n <= 254 {
            // Nothing flushed (that takes 255 groups): each bit's count, 4 × carries + 2 ×
            // twos + ones + the ungrouped shingles, is at most n ≤ 254, and so is every
            // partial sum of it, so all eight counts of a lane are summed and tested at
            // once. With t = n/2 + 1, a count c ≥ t exactly when c + 128 − t reaches 128,
            // and that sum stays below 256 (c ≤ n), so no byte carries into the next.
            let add = (128 - (self.n / 2 + 1)) as u64 * Self::LANE_MASK;
            let (ones, twos) = (self.ones, self.twos);
            return self.lanes.iter().enumerate().fold(0u64, |h, (k, &lane)| {
                let mut c = (lane << 2)
                    + (((twos >> k) & Self::LANE_MASK) << 1)
                    + ((ones >> k) & Self::LANE_MASK);
                for &x in rest {
                    c += (x >> k) & Self::LANE_MASK;
                }
                h | ((((c + add) >> 7) & Self::LANE_MASK) << k)
            });
        }
        let (buf, r) = (self.buf, (self.n & 3) as usize);
        let rest = &buf[..r];
        self.flush();
        let n = u64::from(self.n);
        let counts = self.counts.as_deref().copied().unwrap_or([0; 64]);
        counts.iter().enumerate().fold(0u64, |h, (b, &c)| {
            let mut c = 4 * u64::from(c) + 2 * ((self.twos >> b) & 1) + ((self.ones >> b) & 1);
            for &x in rest {
                c += (x >> b) & 1;
            }
            if 2 * c > n {
                h | (1 << b)
            } else {
                h
            }
        })
    }
}

/// 64-bit SimHash: word 3-shingles, or character 5-shingles when there are under 10 words.
pub fn simhash_tokens(tokens: &Tokens) -> u64 {
    let mut votes = Votes::new();
    if tokens.len() >= 10 {
        for i in 0..tokens.len() - 2 {
            let start = if i == 0 { 0 } else { tokens.ends[i - 1] + 1 };
            votes.add(hash_bytes(
                SHINGLE_SEED,
                &tokens.text[start..tokens.ends[i + 2]],
            ));
        }
    } else if tokens.text.is_ascii() {
        // Characters are bytes: the 5-character windows need no index of char boundaries.
        let bytes = &tokens.text[..];
        if bytes.len() < 5 {
            votes.add(hash_bytes(SHINGLE_SEED, bytes));
        } else {
            for w in bytes.windows(5) {
                votes.add(hash_bytes(SHINGLE_SEED, w));
            }
        }
    } else if let Some(text) = tokens.as_str() {
        char_shingles(text, &mut votes);
    }
    votes.finish()
}

/// Votes for the 5-character windows of a non-ASCII text (the whole text when it has fewer
/// than 5 characters). The last five char starts live in a ring, so no index of every char
/// boundary is allocated.
fn char_shingles(text: &str, votes: &mut Votes) {
    let bytes = text.as_bytes();
    let mut starts = [0usize; 5];
    let mut n = 0usize;
    for (i, _) in text.char_indices() {
        if n >= 5 {
            votes.add(hash_bytes(SHINGLE_SEED, &bytes[starts[n % 5]..i]));
        }
        starts[n % 5] = i;
        n += 1;
    }
    if n < 5 {
        votes.add(hash_bytes(SHINGLE_SEED, bytes));
    } else {
        votes.add(hash_bytes(SHINGLE_SEED, &bytes[starts[n % 5]..]));
    }
}

pub fn simhash(text: &str) -> u64 {
    simhash_tokens(&tokenize(text))
}

const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "mx", "dr", "miss", "prof", "sir", "madam",
];

/// The user's first name from a display name: the first word with ≥ 2 letters that is not a
/// title, lowercased; `None` if there is none.
#[cfg(test)]
pub fn first_name(display_name: &str) -> Option<String> {
    let mut buf = String::new();
    first_name_into(display_name, &mut buf).then_some(buf)
}

/// [`first_name`] into a reused buffer (every reply has one); `false` and an empty buffer
/// when there is none.
fn first_name_into(display_name: &str, buf: &mut String) -> bool {
    if display_name.is_ascii() {
        // Most display names: whitespace is ASCII whitespace and letters are bytes, so the
        // words are split on bytes (empty pieces between runs of whitespace hold no letter
        // and are passed over like the short words) and a letter count is a length.
        for w in display_name.as_bytes().split(|&c| is_ascii_ws(c)) {
            buf.clear();
            for &c in w {
                if c.is_ascii_alphabetic() {
                    buf.push(char::from(c | 0x20));
                }
            }
            if buf.len() >= 2 && !TITLES.contains(&buf.as_str()) {
                return true;
            }
        }
        buf.clear();
        return false;
    }
    for w in split_ws(display_name) {
        buf.clear();
        if w.is_ascii() {
            // Letters are bytes and lowercase to one byte.
            for &c in w.as_bytes() {
                if c.is_ascii_alphabetic() {
                    buf.push(char::from(c | 0x20));
                }
            }
        } else {
            for c in w.chars().filter(|c| c.is_alphabetic()) {
                if c.is_ascii() {
                    buf.push(c.to_ascii_lowercase());
                } else {
                    buf.extend(c.to_lowercase());
                }
            }
        }
        if buf.chars().count() >= 2 && !TITLES.contains(&buf.as_str()) {
            return true;
        }
    }
    buf.clear();
    false
}

/// English phrases that send the user to a private channel (matched on word boundaries of
/// the normalized text, where numbers read `<num>` and handles `<at>`).
const DEFLECTIONS: &[&str] = &[
    "dm us",
    "dm me",
    "dm our",
    "send us a dm",
    "send a dm",
    "send us a direct message",
    "direct message",
    "private message",
    "privately message",
    "pm us",
    "pm me",
    "message us",
    "inbox us",
    "via dm",
    "via dms",
    "by dm",
    "in dm",
    "in dms",
    "over dm",
    "to dm",
    "our dms",
    "your dms",
    "check your inbox",
    "call us",
    "give us a call",
    "phone us",
    "ring us",
    "call our",
    "call <num>",
    "email us",
    "e mail us",
    "mail us",
    "send us an email",
    "drop us an email",
    "drop us a line",
    "email our",
    "via email",
    "by email",
    "contact us at",
    "reach us at",
    "reach out to us at",
    "reach out via",
    "contact our support",
];

/// A word of a deflection phrase: its packing as in [`Tokens`]'s `packed` (0 when longer
/// than 8 bytes, then compared by its bytes).
#[derive(Debug, Clone, Copy)]
struct PhraseWord {
    packed: u64,
    bytes: &'static [u8],
}

impl PhraseWord {
    fn new(bytes: &'static [u8]) -> Self {
        PhraseWord {
            packed: pack_word(bytes, false).unwrap_or(0),
            bytes,
        }
    }

    /// Whether token `k` is this word: one integer compare for words of up to 8 bytes
    /// (a longer token packs to 0, which no such word does).
    #[inline]
    fn is(&self, tokens: &Tokens, k: usize) -> bool {
        if self.packed != 0 {
            tokens.packed[k] == self.packed
        } else {
            tokens.get(k) == self.bytes
        }
    }
}

/// Deflection phrases by a 6-bit hash of their first word's packing (0 for the long first
/// words, checked by their bytes), so a reply is scanned once, with a 64-bit filter of the
/// hashes in use so most tokens look at no phrase. A slot is found by a multiply and a
/// shift; no map lookup per token.
struct Deflections {
    filter: u64,
    slots: Vec<Vec<(PhraseWord, Vec<PhraseWord>)>>,
}

#[inline]
fn deflection_slot(packed: u64) -> usize {
    (packed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

fn deflection_index() -> &'static Deflections {
    static MAP: std::sync::OnceLock<Deflections> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        let mut slots: Vec<Vec<(PhraseWord, Vec<PhraseWord>)>> = vec![Vec::new(); 64];
        let mut filter = 0;
        for p in DEFLECTIONS {
            let words: Vec<PhraseWord> = p
                .split(' ')
                .map(|w| PhraseWord::new(w.as_bytes()))
                .collect();
            let slot = deflection_slot(words[0].packed);
            filter |= 1 << slot;
            slots[slot].push((words[0], words[1..].to_vec()));
        }
        Deflections { filter, slots }
    })
}

fn deflects(tokens: &Tokens) -> bool {
    let idx = deflection_index();
    let n = tokens.len();
    tokens.packed.iter().enumerate().any(|(i, &p)| {
        let slot = deflection_slot(p);
        idx.filter & (1 << slot) != 0
            && idx.slots[slot].iter().any(|(first, rest)| {
                n > i + rest.len()
                    && first.is(tokens, i)
                    && rest
                        .iter()
                        .enumerate()
                        .all(|(j, w)| w.is(tokens, i + 1 + j))
            })
    })
}

/// Text features of one outbound reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyFeatures {
    pub simhash: u64,
    /// Hash of the normalized text (exact-duplicate detection).
    pub exact: u64,
    pub addresses_by_name: bool,
    pub deflects_to_private: bool,
    pub words: ContentWords,
}

/// Up to [`MAX_CONTENT_WORDS`] distinct content-word hashes of a text. 16-bit hashes keep
/// the per-user context small; a false match needs two 1-in-65,536 coincidences to matter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentWords {
    len: u8,
    words: [u16; MAX_CONTENT_WORDS],
}

impl ContentWords {
    pub fn as_slice(&self) -> &[u16] {
        &self.words[..usize::from(self.len)]
    }

    pub fn shared_with(&self, other: &ContentWords) -> u32 {
        let o = other.as_slice();
        self.as_slice().iter().filter(|w| o.contains(w)).count() as u32
    }

    /// The definition of the content words, from the normalized tokens (the sinks must
    /// agree with it).
    #[cfg(test)]
    fn from_tokens(tokens: &Tokens) -> Self {
        let mut cw = ContentWords::default();
        for t in tokens.iter() {
            if usize::from(cw.len) == MAX_CONTENT_WORDS {
                break;
            }
            let t = std::str::from_utf8(t).expect("tokens are UTF-8");
            if t.starts_with('<')
                || t.len() < 3
                || t.chars().count() < 3
                || is_stopword_ascii_lower(t.as_bytes(), false)
            {
                continue;
            }
            let h = fmix64(hash_bytes(WORD_SEED, t.as_bytes())) as u16;
            if !cw.as_slice().contains(&h) {
                cw.words[usize::from(cw.len)] = h;
                cw.len += 1;
            }
        }
        cw
    }
}

/// Content words of an inbound item's text.
pub fn content_words(text: &str) -> ContentWords {
    content_words_with(text, &mut Tokens::default())
}

/// [`content_words`] with a reused token buffer.
pub fn content_words_with(text: &str, buf: &mut Tokens) -> ContentWords {
    if text.is_ascii() {
        let mut sink = WordSink::new(&mut buf.memo);
        scan_ascii(text, &mut sink);
        return sink.words;
    }
    let mut sink = WordSink::new(&mut buf.memo);
    tokenize_general(text, &mut sink, &mut buf.word);
    sink.words
}

/// All features of a reply addressed to someone whose display name is `display_name`.
pub fn analyze_reply(text: &str, display_name: Option<&str>) -> ReplyFeatures {
    analyze_reply_with(text, display_name, &mut Tokens::default())
}

/// [`analyze_reply`] with a reused token buffer.
pub fn analyze_reply_with(
    text: &str,
    display_name: Option<&str>,
    tokens: &mut Tokens,
) -> ReplyFeatures {
    tokens.clear();
    let mut memo = std::mem::take(&mut tokens.memo);
    let words = if text.is_ascii() {
        // One pass: the content words come from the same scan as the tokens.
        let mut sink = ReplySink {
            tokens,
            words: WordSink::new(&mut memo),
        };
        scan_ascii(text, &mut sink);
        sink.words.words
    } else {
        let mut word = std::mem::take(&mut tokens.word);
        let mut sink = ReplySink {
            tokens,
            words: WordSink::new(&mut memo),
        };
        tokenize_general(text, &mut sink, &mut word);
        let words = sink.words.words;
        tokens.word = word;
        words
    };
    tokens.memo = memo;
    let mut name = std::mem::take(&mut tokens.name);
    let named = display_name.is_some_and(|d| first_name_into(d, &mut name));
    let features = {
        let tokens = &*tokens;
        ReplyFeatures {
            simhash: simhash_tokens(tokens),
            exact: hash_bytes(EXACT_SEED, &tokens.text),
            addresses_by_name: named && tokens.contains(name.as_bytes()),
            deflects_to_private: deflects(tokens),
            words,
        }
    };
    // Back into the scratch buffer: it only carries capacity to the next reply.
    tokens.name = name;
    features
}

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "yours", "are", "was", "were", "with", "this", "that",
    "these", "those", "have", "has", "had", "not", "but", "can", "could", "would", "should",
    "will", "just", "our", "ours", "out", "about", "from", "they", "them", "their", "there",
    "what", "when", "where", "which", "who", "why", "how", "all", "any", "some", "get", "got",
    "been", "being", "into", "over", "than", "then", "too", "very", "also", "its", "it's", "i'm",
    "you're", "we're", "don't", "didn't", "can't", "won't", "hey", "hello", "thanks", "thank",
    "please", "sorry", "hear", "know", "let", "help", "happy", "more", "here", "still",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-load word step against the byte loops it replaces (run end, trailing
    /// apostrophes cut, lowercase packing), from every letter of random texts rich in
    /// letters, apostrophes and near misses; bytes before the word may be non-ASCII, as in
    /// the general tokenizer's texts.
    #[test]
    fn short_word_at_matches_the_byte_loops() {
        let alphabet = b"aZzA''q@[`{.-9 \x00";
        let prefix = [0xC3u8, 0xA9, 0xF0, 0x9F, 0x98, 0x8D, b' ', b'x'];
        let mut x = 11u64;
        for len in 0..24usize {
            for _ in 0..400 {
                let mut next = || {
                    x = crate::hash::fmix64(x.wrapping_add(1));
                    x
                };
                let pre = (next() % 6) as usize;
                let mut b: Vec<u8> = (0..pre).map(|_| prefix[next() as usize % 8]).collect();
                b.extend((0..len).map(|_| {
                    let r = next();
                    // Mostly letters, so words of every length occur.
                    if r % 3 == 0 {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    } else {
                        alphabet[(r >> 8) as usize % 6]
                    }
                }));
                for start in pre..b.len() {
                    if !b[start].is_ascii_alphabetic() {
                        continue;
                    }
                    let mut run = start;
                    while run < b.len() && (b[run].is_ascii_alphabetic() || b[run] == b'\'') {
                        run += 1;
                    }
                    let mut end = run;
                    while b[end - 1] == b'\'' {
                        end -= 1;
                    }
                    let want = (b.len() >= 8 && run - start < 8)
                        .then(|| (run, end, load_word_lower(&b[start..end])));
                    assert_eq!(short_word_at(&b, start), want, "{b:?} from {start}");
                }
            }
        }
    }

    /// The backwards eight-byte walk stops where the byte loop stops, from every end
    /// position of random ASCII texts rich in letters, dots and near misses (`@`, `[`, `` ` ``,
    /// `{`, `-`, `/`).
    #[test]
    fn letters_dots_start_matches_the_byte_loop() {
        let alphabet = b"aZzA.@[`{-/ 9'mQ";
        let mut x = 5u64;
        for len in 0..40usize {
            for _ in 0..300 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        x = crate::hash::fmix64(x.wrapping_add(1));
                        // Mostly letters and dots, so long runs occur.
                        if x % 4 == 0 {
                            alphabet[(x >> 8) as usize % alphabet.len()]
                        } else {
                            alphabet[(x >> 8) as usize % 5]
                        }
                    })
                    .collect();
                for j in 0..=len {
                    let mut want = j;
                    while want > 0 && (b[want - 1].is_ascii_alphabetic() || b[want - 1] == b'.') {
                        want -= 1;
                    }
                    assert_eq!(
                        letters_dots_start(&b, j),
                        want,
                        "{:?} {j}",
                        String::from_utf8_lossy(&b)
                    );
                }
            }
        }
    }

    /// The one-pass signature test against its definition (a mark, then letters and dots
    /// with 1 to 12 letters), on tokens built from marks, letters, dots and other chars.
    #[test]
    fn signature_test_matches_definition() {
        fn definition(tok: &str) -> bool {
            let mut chars = tok.chars();
            let Some(first) = chars.next() else {
                return false;
            };
            if !matches!(first, '^' | '*' | '-' | '–' | '—' | '~') {
                return false;
            }
            let rest: Vec<char> = chars.collect();
            let letters = rest.iter().filter(|c| c.is_alphabetic()).count();
            (1..=12).contains(&letters) && rest.iter().all(|c| c.is_alphabetic() || *c == '.')
        }
        let parts = [
            "^", "-", "—", "~", "a", "Z", "é", ".", "1", "'", " ", "AB", "xyzxyz",
        ];
        let mut x = 3u64;
        for _ in 0..20_000 {
            x = crate::hash::fmix64(x.wrapping_add(7));
            let n = (x % 8) as usize;
            let tok: String = (0..n)
                .map(|k| parts[((x >> (8 + 5 * k)) % parts.len() as u64) as usize])
                .collect();
            assert_eq!(is_signature(&tok), definition(&tok), "{tok:?}");
        }
    }

    #[test]
    fn normalization_masks_and_strips() {
        assert_eq!(
            normalize(
                "@jane @acme_help Hi! Your order #12345 ships 3/4 🎉🎉 see https://x.co/a ^AB"
            ),
            "hi your order <num> ships <num> <num> <emoji> see <url>"
        );
        assert_eq!(
            normalize("Sorry @bob, we're on it -Sarah"),
            "sorry <at> we're on it"
        );
        assert_eq!(normalize("Sorry about that. - Sarah"), "sorry about that");
        assert_eq!(normalize("Thanks *SR"), "thanks");
        // A trailing lowercase word after a dash is text, not a signature.
        assert_eq!(normalize("two - three"), "two three");
    }

    /// Content words taken straight from the general tokenizer (inbound and reply sinks)
    /// against their definition over the normalized tokens, on random non-ASCII texts.
    #[test]
    fn unicode_sinks_match_content_word_definition() {
        let alphabet: &[&str] = &[
            "a",
            "B",
            "'",
            "@x",
            "-",
            "^",
            "1",
            ".",
            " ",
            " ",
            "\u{a0}",
            "é",
            "Ä",
            "ß",
            "İ",
            "😍",
            "💚",
            "\u{fe0f}",
            "café",
            "Über",
            "naïve",
            "straße",
            "order",
            "the",
            "thanks",
            "dishwasher",
            "it's",
            "–",
            "Ωmega",
            "http://x",
            "#",
        ];
        let mut x = 0x0123_4567_89AB_CDEFu64;
        let mut buf = Tokens::default();
        for n in 0..20_000 {
            let len = n % 20;
            let mut text = String::from("é");
            for _ in 0..len {
                x = fmix64(x.wrapping_add(n as u64));
                text.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let tokens = tokenize(&text);
            let expected = ContentWords::from_tokens(&tokens);
            assert_eq!(content_words_with(&text, &mut buf), expected, "{text:?}");
            let reply = analyze_reply_with(&text, None, &mut buf);
            assert_eq!(reply.words, expected, "{text:?}");
            assert_eq!(
                (&buf.text, &buf.ends, &buf.packed),
                (&tokens.text, &tokens.ends, &tokens.packed),
                "{text:?}"
            );
        }
    }

    /// The ASCII scanner against the general path, on random texts over the characters its
    /// rules treat specially.
    #[test]
    fn ascii_scanner_matches_general_path() {
        let alphabet: &[&str] = &[
            "a",
            "B",
            "z",
            "Q",
            "'",
            "@",
            "-",
            "^",
            "*",
            "~",
            ".",
            ",",
            "!",
            "1",
            "9",
            " ",
            " ",
            "\t",
            "\n",
            "\x0B",
            "http://",
            "HTTPS://x",
            "www.",
            "Sam",
            "the",
            "you're",
            "ok",
            "thanks",
            "order",
            "dm",
            "#",
            "<",
            ">",
            "_",
            "'s",
            "dishwasher",
            "Wouldn't",
            "espresso",
            "STILL",
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let (mut a, mut b, mut c) = (Tokens::default(), Tokens::default(), Tokens::default());
        // One memo for every text, as in the engine: repeated words hit it.
        let mut memo = WordMemo::default();
        for n in 0..20_000 {
            let len = n % 24;
            let mut text = String::new();
            for _ in 0..len {
                x = fmix64(x.wrapping_add(n as u64));
                text.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            assert_eq!(
                strip_signature_ascii(&text),
                strip_signature(&text),
                "{text:?}"
            );
            scan_ascii(&text, &mut a);
            a.clear();
            scan_ascii(&text, &mut a);
            b.clear();
            tokenize_general(&text, &mut b, &mut String::new());
            assert_eq!((&a.text, &a.ends), (&b.text, &b.ends), "{text:?}");
            assert_packed(&a);
            assert_packed(&b);
            let mut sink = WordSink::new(&mut memo);
            scan_ascii(&text, &mut sink);
            assert_eq!(sink.words, ContentWords::from_tokens(&b), "{text:?}");
            // The reply sink (tokens and content words from one scan) agrees too.
            let reply = analyze_reply_with(&text, None, &mut c);
            assert_eq!(reply.words, ContentWords::from_tokens(&b), "{text:?}");
            assert_eq!((&c.text, &c.ends), (&b.text, &b.ends), "{text:?}");
            assert_packed(&c);
            a.clear();
        }
        assert_eq!(packed_stopwords().len(), STOPWORDS.len());
        // Every stop word is found, in either case.
        for w in STOPWORDS {
            assert!(is_stopword_ascii_lower(w.as_bytes(), false), "{w}");
            assert!(
                is_stopword_ascii_lower(w.to_uppercase().as_bytes(), true),
                "{w}"
            );
        }
    }

    /// The byte path for ASCII display names against the whitespace-split definition.
    #[test]
    fn ascii_first_names_match_the_split_definition() {
        fn definition(d: &str) -> Option<String> {
            d.split_whitespace()
                .map(|w| {
                    w.chars()
                        .filter(|c| c.is_alphabetic())
                        .flat_map(char::to_lowercase)
                        .collect::<String>()
                })
                .find(|w| w.chars().count() >= 2 && !TITLES.contains(&w.as_str()))
        }
        let parts = [
            "Sam", "Dr.", "dr", "MR", "J.", "a", "Ms", "x1", "O'Neil", " ", "  ", "\t", "\n",
            "\x0b", "-", "@", "Q", "Madam", "prof.",
        ];
        let mut x = 29u64;
        for _ in 0..50_000 {
            x = crate::hash::fmix64(x.wrapping_add(5));
            let n = (x % 8) as usize;
            let d: String = (0..n)
                .map(|k| parts[((x >> (6 * k)) % parts.len() as u64) as usize])
                .collect();
            assert_eq!(first_name(&d), definition(&d), "{d:?}");
        }
    }

    #[test]
    fn first_names() {
        assert_eq!(first_name("Jane Doe"), Some("jane".into()));
        assert_eq!(first_name("Dr. Ada Lovelace"), Some("ada".into()));
        assert_eq!(first_name("J. R."), None);
        assert_eq!(first_name("🌸 Émilie"), Some("émilie".into()));
    }

    #[test]
    fn name_in_handle_prefix_does_not_count() {
        let f = analyze_reply("@jane thanks for reaching out", Some("Jane Doe"));
        assert!(!f.addresses_by_name);
        let f = analyze_reply("@jane Hi Jane, thanks for reaching out", Some("Jane Doe"));
        assert!(f.addresses_by_name);
    }

    /// Every sink's packed tokens are the tokens' bytes packed (0 when longer than 8).
    fn assert_packed(t: &Tokens) {
        let want: Vec<u64> = t.iter().map(|w| pack_word(w, false).unwrap_or(0)).collect();
        assert_eq!(t.packed, want, "{:?}", String::from_utf8_lossy(&t.text));
    }

    /// The packed deflection and name scans against their definitions over the tokens'
    /// bytes, on random replies made of phrase words, long words and near misses.
    #[test]
    fn packed_scans_match_byte_definitions() {
        fn deflects_definition(tokens: &Tokens) -> bool {
            let toks: Vec<&[u8]> = tokens.iter().collect();
            DEFLECTIONS.iter().any(|p| {
                let words: Vec<&[u8]> = p.split(' ').map(str::as_bytes).collect();
                toks.windows(words.len()).any(|w| w == words.as_slice())
            })
        }
        let alphabet: &[&str] = &[
            "dm",
            "us",
            "me",
            "our",
            "send",
            "a",
            "direct",
            "message",
            "privately",
            "private",
            "call",
            "5",
            "e",
            "mail",
            "email",
            "via",
            "dms",
            "reach",
            "out",
            "to",
            "at",
            "contact",
            "support",
            "privatelyx",
            "messages",
            "sam",
            "samantha",
            "Sam",
            "the",
            "dishwasher",
            "é",
            "café",
            "😍",
            "@x",
            "inbox",
            "drop",
            "line",
            "an",
            "your",
        ];
        let names = ["sam", "samantha", "dm", "é", "privately"];
        let mut x = 7u64;
        let mut buf = Tokens::default();
        for n in 0..20_000 {
            let mut text = String::new();
            for _ in 0..n % 9 {
                x = fmix64(x.wrapping_add(n as u64));
                text.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
                text.push(' ');
            }
            let reply = analyze_reply_with(&text, None, &mut buf);
            assert_packed(&buf);
            assert_eq!(
                reply.deflects_to_private,
                deflects_definition(&buf),
                "{text:?}"
            );
            for name in names {
                assert_eq!(
                    buf.contains(name.as_bytes()),
                    buf.iter().any(|t| t == name.as_bytes()),
                    "{text:?} {name}"
                );
            }
        }
    }

    #[test]
    fn deflection_phrases() {
        assert!(analyze_reply("Please DM us your order number", None).deflects_to_private);
        assert!(analyze_reply("Could you send us a private message?", None).deflects_to_private);
        assert!(analyze_reply("Call us on 0800 123 456", None).deflects_to_private);
        assert!(analyze_reply("Please e-mail us at help@acme.com", None).deflects_to_private);
        assert!(!analyze_reply("The DMs feature ships next week", None).deflects_to_private);
        assert!(!analyze_reply("Glad it arrived on time!", None).deflects_to_private);
    }

    #[test]
    fn content_words_overlap() {
        let inbound = content_words("My blender arrived with a cracked jug, order 5512");
        let reply = analyze_reply(
            "So sorry the jug was cracked! A new blender jug is on its way",
            None,
        );
        assert!(reply.words.shared_with(&inbound) >= 2);
        let generic = analyze_reply("We are looking into this for you", None);
        assert_eq!(generic.words.shared_with(&inbound), 0);
    }

    /// The scalar definition the bit-sliced `Votes` must reproduce.
    fn reference_votes(hashes: &[u64]) -> u64 {
        let mut acc = [0i32; 64];
        for h in hashes {
            for (b, slot) in acc.iter_mut().enumerate() {
                *slot += ((h >> b) & 1) as i32 * 2 - 1;
            }
        }
        acc.iter()
            .enumerate()
            .fold(0u64, |h, (b, &v)| if v > 0 { h | (1 << b) } else { h })
    }

    #[test]
    fn bit_sliced_votes_match_scalar_votes() {
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        for n in [
            0usize, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 101, 252, 253, 254, 255, 256, 257, 511, 600,
            1019, 1020, 1021, 1023, 1024, 2047, 4101,
        ] {
            let hashes: Vec<u64> = (0..n)
                .map(|i| {
                    x = fmix64(x.wrapping_add(i as u64));
                    // Skewed bits too, so counts pass 255 in one lane.
                    if i % 3 == 0 {
                        x | 0xFF00
                    } else {
                        x
                    }
                })
                .collect();
            let mut v = Votes::new();
            for &h in &hashes {
                v.add(h);
            }
            assert_eq!(v.finish(), reference_votes(&hashes), "n = {n}");
        }
    }

    #[test]
    fn char_shingles_match_windows_over_an_index_of_char_starts() {
        // The definition the ring buffer must reproduce: every char start collected first.
        fn reference(text: &str) -> u64 {
            let mut votes = Votes::new();
            let idx: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            let bytes = text.as_bytes();
            if idx.len() < 5 {
                votes.add(hash_bytes(SHINGLE_SEED, bytes));
            } else {
                for w in 0..=idx.len() - 5 {
                    let end = idx.get(w + 5).copied().unwrap_or(bytes.len());
                    votes.add(hash_bytes(SHINGLE_SEED, &bytes[idx[w]..end]));
                }
            }
            votes.finish()
        }
        let alphabet = ['a', 'é', ' ', '😍', 'ß', 'z', '💚', '\''];
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..200 {
            let mut text = String::new();
            for _ in 0..len % 23 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let mut votes = Votes::new();
            char_shingles(&text, &mut votes);
            assert_eq!(votes.finish(), reference(&text), "{text:?}");
        }
    }

    #[test]
    fn simhash_is_stable_under_masking() {
        let a = simhash(
            "@u1 Sorry to hear that! Please DM us your order number and we'll take a look. ^AB",
        );
        let b = simhash(
            "@u2 Sorry to hear that! Please DM us your order number and we'll take a look. ^CD",
        );
        assert_eq!(a, b);
        let c = simhash("We love that you love it! Enjoy the new colours this spring");
        assert!((a ^ c).count_ones() > 3);
    }
    /// The memo gives what it caches, the stop-word test and the word hash, for words that
    /// hit it, miss it and evict each other (more distinct words than slots).
    #[test]
    fn word_memo_matches_the_direct_values() {
        let mut memo = WordMemo::default();
        let letters = b"abcdefghijklmnopqrstuvwxyz'";
        let mut x = 5u64;
        let mut words: Vec<Vec<u8>> = STOPWORDS
            .iter()
            .filter(|w| (3..=8).contains(&w.len()))
            .map(|w| w.as_bytes().to_vec())
            .collect();
        for _ in 0..3_000 {
            x = fmix64(x.wrapping_add(1));
            let len = 3 + (x % 6) as usize;
            let mut w = vec![letters[(x >> 8) as usize % 26]];
            for k in 1..len {
                w.push(letters[(x >> (8 + 5 * k)) as usize % letters.len()]);
            }
            words.push(w);
        }
        for round in 0..3 {
            for (i, w) in words.iter().enumerate() {
                if round == 1 && i % 3 != 0 {
                    continue;
                }
                let lower = load_word_lower(w);
                let want = if is_stopword_ascii_lower(w, false) {
                    MEMO_STOP
                } else {
                    u32::from(fmix64(hash_bytes(WORD_SEED, w)) as u16)
                };
                assert_eq!(memo.value(lower, w.len()), want, "{w:?}");
            }
        }
    }
    /// `split_ws` splits exactly as `split_whitespace`, with ASCII and other whitespace,
    /// multi-byte characters at every position, and empty or all-space texts.
    #[test]
    fn split_ws_matches_split_whitespace() {
        let alphabet = [
            " ",
            "\t",
            "\n",
            "\u{0b}",
            "\u{85}",
            "\u{a0}",
            "\u{1680}",
            "\u{2003}",
            "\u{2028}",
            "\u{202f}",
            "\u{3000}",
            "a",
            "Z",
            "é",
            "ß",
            "😍",
            "\u{200b}",
            "-",
            "'",
            "\u{1}",
            "\u{7f}",
            "!",
            "word",
            "abcdefghijk",
        ];
        let mut x = 11u64;
        for n in 0..20_000u64 {
            let mut text = String::new();
            for _ in 0..n % 17 {
                x = fmix64(x.wrapping_add(n));
                text.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let want: Vec<&str> = text.split_whitespace().collect();
            let got: Vec<&str> = split_ws(&text).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }
}
