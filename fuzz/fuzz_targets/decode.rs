//! Any bytes as a delivery file: the decoder never panics, and whatever it accepts rebuilds
//! exactly to the records the bytes hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let chunk = ctparquet::decode::decode_files(&ctparquet::schema::EVENTS, [data], 1 << 20);
    let Ok(rows) = chunk.files[0].clone() else {
        return;
    };
    let rebuilt = ctparquet::rebuild::rebuild_batch(&ctparquet::schema::EVENTS, &chunk.batch).expect("decoded rows rebuild");
    assert_eq!(rebuilt.len(), rows.len());
    // The oracle: the same bytes read as plain JSON, as `verify` reads them (lone surrogates
    // and the like in the form the converter keeps them); plain JSON input only: gzip is checked
    // by the inflate path above not panicking.
    if data.first() == Some(&b'{') {
        let records = ctparquet::verify::source_records(data, 1 << 20).expect("accepted input is JSON");
        assert_eq!(rebuilt, records, "rebuild differs from the source");
    }
});
