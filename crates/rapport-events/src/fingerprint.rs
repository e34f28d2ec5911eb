//! CRC-64-AVRO (Rabin) fingerprints, written from the Avro specification.
//!
//! apache-avro computes the same value; having our own lets the tests check the library against
//! the specification rather than against itself, and keeps the hot decode path table-driven.

const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

const fn table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut j = 0;
        while j < 8 {
            fp = (fp >> 1) ^ (EMPTY & (0u64.wrapping_sub(fp & 1)));
            j += 1;
        }
        t[i] = fp;
        i += 1;
    }
    t
}

static TABLE: [u64; 256] = table();

/// The 64-bit Rabin fingerprint of `bytes` (normally a schema's Parsing Canonical Form).
pub fn rabin_fingerprint(bytes: &[u8]) -> u64 {
    let mut fp = EMPTY;
    for &b in bytes {
        fp = (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_apache_avro_for_primitive_and_record_schemas() {
        for src in [
            r#""int""#,
            r#""string""#,
            r#"{"type":"record","name":"A","fields":[{"name":"x","type":"long"}]}"#,
        ] {
            let schema = apache_avro::Schema::parse_str(src).expect("valid schema");
            let canonical = schema.canonical_form();
            let theirs = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
            let ours = rabin_fingerprint(canonical.as_bytes()).to_le_bytes();
            assert_eq!(ours.as_slice(), theirs.as_slice(), "schema {src}");
        }
    }

    #[test]
    fn empty_input_is_the_empty_constant() {
        assert_eq!(rabin_fingerprint(b""), EMPTY);
    }
}
