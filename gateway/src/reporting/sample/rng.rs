//! The generator's only source of randomness: splitmix64, written out here rather than taken from a crate
//! so that a seed gives the same bytes whatever crate versions the build resolves (samples are compared
//! byte for byte); the step itself is five lines, the rest derives ranges, choices and GUIDs from it.

/// splitmix64.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Standard normal (Box–Muller).
    pub(super) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Index in `0..n` skewed towards the front (the popular end of a list).
    pub(super) fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((n as f64 * u * u) as usize).min(n - 1)
    }

    /// A random version-4 GUID, lower or upper case.
    pub(super) fn guid(&mut self, upper: bool) -> [u8; 36] {
        let hex: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
        let a = (self.next_u64() & !0xF000) | 0x4000;
        let b = (self.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let mut out = [b'-'; 36];
        let mut pos = 0;
        for i in 0..32 {
            if matches!(pos, 8 | 13 | 18 | 23) {
                pos += 1;
            }
            let word = if i < 16 { a } else { b };
            out[pos] = hex[((word >> (60 - 4 * (i % 16))) & 0xF) as usize];
            pos += 1;
        }
        out
    }
}
