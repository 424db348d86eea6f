//! A bank's CSV file, any bytes, read as each kind the importer knows:
//! every row is either a payload that passes the stateless checks or a
//! reason, each with a line number inside the file; never a panic.
#![no_main]
use deltachain_client::import::{read_rows, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lines end at \n, \r\n or a lone \r, as the importer counts them.
    let lone_cr = data
        .windows(2)
        .filter(|w| w[0] == b'\r' && w[1] != b'\n')
        .count()
        + usize::from(data.last() == Some(&b'\r'));
    let lines = (data.iter().filter(|&&b| b == b'\n').count() + lone_cr) as u64 + 1;
    for kind in [Kind::Credit, Kind::Public, Kind::Receivable] {
        if let Ok((_, rows)) = read_rows(data, kind) {
            let mut last = 1;
            for r in rows {
                assert!(
                    r.line > last && r.line <= lines + 1,
                    "line {} of {lines}",
                    r.line
                );
                last = r.line;
                if let Err(why) = &r.payload {
                    assert!(!why.is_empty());
                }
            }
        }
    }
});
