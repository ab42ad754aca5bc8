//! Any bytes as a delivery file: the decoder never panics, and whatever it accepts rebuilds
//! exactly to the records the bytes hold.
#![no_main]

use ctparquet_decode::schema::EVENTS;
use ctparquet_decode::{decode, plain, rebuild};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let chunk = decode::decode_files(&EVENTS, [data], 1 << 20);
    let Ok(rows) = chunk.files[0].clone() else {
        return;
    };
    let rebuilt = rebuild::rebuild_batch(&EVENTS, &chunk.batch).expect("decoded rows rebuild");
    assert_eq!(rebuilt.len(), rows.len());
    // The oracle: the same bytes read as plain JSON, as `verify` reads them (lone surrogates
    // and the like in the form the converter keeps them); plain JSON input only: gzip is checked
    // by the inflate path above not panicking.
    if data.first() == Some(&b'{') {
        let records = plain::source_records(data, 1 << 20).expect("accepted input is JSON");
        assert_eq!(rebuilt, records, "rebuild differs from the source");
    }
});
