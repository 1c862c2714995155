//! Whatever a token endpoint answers, reading it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (head, body) = input.split_at(input.len().min(3));
    let status = match head {
        [a, b, ..] => 100 + u16::from_le_bytes([*a, *b]) % 500,
        _ => 200,
    };
    let form = head.get(2).is_some_and(|flag| flag & 1 == 1);
    reqwest_oauth::fuzzing::token_endpoint_answer(status, form, body);
});
