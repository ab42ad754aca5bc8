//! Gzip delivery files inflated whole, a member at a time, with libdeflate.
//!
//! A delivery file is read into memory before it is decoded, so nothing is gained from a
//! streaming inflater; libdeflate inflates a whole buffer in one call and is about a third faster
//! than zlib-rs on CloudTrail files (measured: 90 ms vs 134 ms for 208 MB of JSON). Its safe
//! wrapper (`libdeflater`) decodes only the first member of a file and does not say where that
//! member ended, so the members of a multi-member file (which `gzip` and `cat` make and readers
//! accept) are walked here with `libdeflate_gzip_decompress_ex`, which does.

use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Why a gzip file could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GunzipError {
    /// Not valid gzip: a bad header, corrupt deflate data, a checksum or size that does not
    /// match, a truncated member, or trailing bytes that are not a member.
    Corrupt,
    /// It inflates past the limit.
    TooLarge,
}

/// A libdeflate decompressor, reused from file to file.
pub struct Gunzip {
    decompressor: NonNull<libdeflate_decompressor>,
}

// SAFETY: a libdeflate decompressor holds no reference to anything else and may be used from any
// thread, one call at a time (`&mut self` makes it so).
unsafe impl Send for Gunzip {}

impl Default for Gunzip {
    fn default() -> Self {
        Self::new()
    }
}

impl Gunzip {
    pub fn new() -> Self {
        // SAFETY: allocation only; null means out of memory.
        let decompressor = unsafe { libdeflate_alloc_decompressor() };
        Gunzip {
            decompressor: NonNull::new(decompressor).expect("out of memory for a decompressor"),
        }
    }

    /// Inflate every member of `gzip` into the start of `out`, growing it (up to `limit` + 1
    /// bytes) when it is too small; returns the inflated length, at most `limit`. `out` keeps its
    /// size afterwards, so a buffer reused across files is initialised only when it grows.
    pub fn inflate(
        &mut self,
        gzip: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, GunzipError> {
        let cap = limit.saturating_add(1);
        let mut filled = 0;
        let mut rest = gzip;
        while !rest.is_empty() {
            loop {
                let mut read = 0;
                let mut written = 0;
                let space = &mut out[filled..];
                // SAFETY: the pointers and lengths describe live, distinct slices; libdeflate
                // reads at most `rest.len()` bytes and writes at most `space.len()` bytes.
                let result = unsafe {
                    libdeflate_gzip_decompress_ex(
                        self.decompressor.as_ptr(),
                        rest.as_ptr().cast(),
                        rest.len(),
                        space.as_mut_ptr().cast(),
                        space.len(),
                        &mut read,
                        &mut written,
                    )
                };
                if result == libdeflate_result_LIBDEFLATE_SUCCESS {
                    filled += written;
                    rest = &rest[read..];
                    break;
                }
                if result != libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE {
                    return Err(GunzipError::Corrupt);
                }
                // The member is inflated again into a larger buffer: sizes come from the gzip
                // trailer, so this happens for multi-member files and lying trailers only, and
                // doubling bounds the work by twice the limit.
                if out.len() >= cap {
                    return Err(GunzipError::TooLarge);
                }
                let grown = out.len().saturating_mul(2).max(64 * 1024).min(cap);
                out.resize(grown, 0);
            }
        }
        if filled > limit {
            return Err(GunzipError::TooLarge);
        }
        Ok(filled)
    }
}

impl Drop for Gunzip {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed once.
        unsafe { libdeflate_free_decompressor(self.decompressor.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn members_are_inflated_one_after_another() {
        let mut file = gzip(b"{\"Records\":");
        file.extend(gzip(b"[]}"));
        let mut out = vec![0; 4];
        let len = Gunzip::new().inflate(&file, 1 << 20, &mut out).unwrap();
        assert_eq!(&out[..len], b"{\"Records\":[]}");
    }

    #[test]
    fn limits_and_damage_are_reported() {
        let file = gzip(&[b'x'; 10_000]);
        let mut out = Vec::new();
        assert_eq!(
            Gunzip::new().inflate(&file, 9_999, &mut out),
            Err(GunzipError::TooLarge)
        );
        assert_eq!(Gunzip::new().inflate(&file, 10_000, &mut out), Ok(10_000));
        let mut truncated = file.clone();
        truncated.truncate(file.len() - 3);
        assert_eq!(
            Gunzip::new().inflate(&truncated, 1 << 20, &mut out),
            Err(GunzipError::Corrupt)
        );
        let mut trailing = file.clone();
        trailing.extend_from_slice(b"garbage");
        assert_eq!(
            Gunzip::new().inflate(&trailing, 1 << 20, &mut out),
            Err(GunzipError::Corrupt)
        );
    }
}
