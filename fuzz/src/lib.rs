//! Helpers shared by the fuzz targets (`fuzz_targets/`): files placed on
//! the simulated disk, so a target never touches the real one.

use std::path::Path;

use drover_adapters::disk::{FileSystem, LogFile, SimFs};

/// Puts `bytes` at `path` on `fs`, durable, as a file found after a crash
/// or written by someone else would be.
pub fn put(fs: &SimFs, path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        fs.create_dir_all(dir)
            .expect("the simulated disk creates directories");
    }
    let mut file = fs.open(path).expect("the simulated disk opens files");
    file.append(bytes).expect("the simulated disk appends");
    file.sync().expect("the simulated disk syncs");
    fs.sync_dir(path.parent().unwrap_or(Path::new("/")))
        .expect("the simulated disk syncs directories");
}

/// Several files in one input, each after a line `==> NAME <==`, and each
/// but the last followed by one newline that is not its own: what `head`
/// prints of several files, so `head -c 1000000 raft.log raft.log.meta`
/// makes a seed. Bytes before the first such line are the first file.
pub struct Files<'a> {
    parts: Vec<(Option<&'a str>, &'a [u8])>,
}

const OPEN: &[u8] = b"==> ";
const CLOSE: &[u8] = b" <==\n";

impl<'a> Files<'a> {
    pub fn split(bytes: &'a [u8]) -> Self {
        let mut parts = Vec::new();
        let mut name = None;
        let mut rest = bytes;
        loop {
            let Some(at) = find_header(rest) else {
                parts.push((name, rest));
                return Self { parts };
            };
            let content = if at > 0 { &rest[..at - 1] } else { &rest[..0] };
            parts.push((name, content));
            let header = &rest[at + OPEN.len()..];
            let end = find(header, CLOSE).expect("find_header found the whole header");
            name = std::str::from_utf8(&header[..end]).ok();
            rest = &header[end + CLOSE.len()..];
        }
    }

    /// The files among `names` the input holds, the first of them also
    /// when the input opens without a header. A file of another name is
    /// ignored; of two with one name, the last counts.
    pub fn named<'n>(&self, names: &[&'n str]) -> Vec<(&'n str, &'a [u8])> {
        let mut found: Vec<(&'n str, &'a [u8])> = Vec::new();
        for (name, content) in &self.parts {
            let name = match name {
                None if content.is_empty() => continue,
                None => names.first().copied(),
                Some(name) => names.iter().copied().find(|n| n == name),
            };
            if let Some(name) = name {
                found.retain(|(n, _)| *n != name);
                found.push((name, content));
            }
        }
        found
    }
}

fn find_header(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], OPEN) {
        let at = from + at;
        let line_start = at == 0 || bytes[at - 1] == b'\n';
        let name = &bytes[at + OPEN.len()..];
        let closed = find(name, CLOSE).is_some_and(|end| !name[..end].contains(&b'\n'));
        if line_start && closed {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
