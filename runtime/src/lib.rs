//! The protocrash runtime: what a harness links. `fuzz_target!` turns a closure into a
//! harness binary that is, depending on how it is started, a fork-server worker of a
//! `cargo protocrash run` campaign, or a replayer of input files (`harness FILE…`).
//!
//! Unsafe lives here and only here: the SanitizerCoverage callbacks and counter access
//! (`sancov`), the shared memory (`shared`, `statsfile`), fork/wait/kill (`forkserver`,
//! `process`), signal handlers (`signals`) and the allocator (`alloc`). Each block argues its
//! invariant in a `// SAFETY:` comment.
#![deny(clippy::undocumented_unsafe_blocks)]

mod aflstats;
mod alloc;
mod cmp;
mod corpus;
mod entry;
mod findings;
mod forkserver;
mod fuzzer;
mod mutate;
mod penalty;
mod process;
mod replay;
mod rng;
mod sancov;
mod shared;
mod signals;
mod statsfile;
mod symbols;
mod sync;
mod tmin;
mod util;

pub use arbitrary;

/// What a fuzz target says about the input it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corpus {
    /// Keep the input in the corpus if it reached new coverage (the default).
    Keep,
    /// Never add this input to the corpus, whatever it covered.
    Reject,
}

/// What a fuzz target body may evaluate to: `()` or a [`Corpus`] decision.
pub trait IntoCorpus {
    /// The decision.
    fn into_corpus(self) -> Corpus;
}

impl IntoCorpus for () {
    fn into_corpus(self) -> Corpus {
        Corpus::Keep
    }
}

impl IntoCorpus for Corpus {
    fn into_corpus(self) -> Corpus {
        self
    }
}

/// The signature of the function `fuzz_target!` generates.
pub type TargetFn = fn(&[u8]) -> Corpus;

#[doc(hidden)]
pub mod __private {
    pub use crate::alloc::LimitAlloc;
    pub use crate::entry::{main, test_one_input};
}

/// Defines the fuzz target, in the same forms as `libfuzzer_sys::fuzz_target!`:
///
/// ```ignore
/// fuzz_target!(|data: &[u8]| { let _ = my_crate::parse(data); });
/// fuzz_target!(|input: MyType| { my_crate::run(input); });       // MyType: Arbitrary
/// fuzz_target!(init: { my_crate::setup(); }, |data: &[u8]| { … });
/// ```
///
/// The body may evaluate to `()` or to [`Corpus`] (`Corpus::Reject` keeps an input out of the
/// corpus). Typed inputs are decoded exactly as cargo-fuzz decodes them, so corpora carry over.
#[macro_export]
macro_rules! fuzz_target {
    (init: $init:expr, |$data:ident| $body:expr) => {
        $crate::fuzz_target!(init: $init, |$data: &[u8]| $body);
    };
    (|$data:ident| $body:expr) => {
        $crate::fuzz_target!(|$data: &[u8]| $body);
    };
    (init: $init:expr, |$data:ident: &[u8]| $body:expr) => {
        fn __protocrash_target($data: &[u8]) -> $crate::Corpus {
            $crate::IntoCorpus::into_corpus($body)
        }
        $crate::__protocrash_glue!($init);
    };
    (|$data:ident: &[u8]| $body:expr) => {
        $crate::fuzz_target!(init: (), |$data: &[u8]| $body);
    };
    (init: $init:expr, |$data:ident: $dty:ty| $body:expr) => {
        fn __protocrash_target(bytes: &[u8]) -> $crate::Corpus {
            // The same decoding as libfuzzer-sys: too short for the type's minimum is skipped,
            // then the whole input is consumed with `arbitrary_take_rest`.
            if bytes.len() < <$dty as $crate::arbitrary::Arbitrary>::size_hint(0).0 {
                return $crate::Corpus::Keep;
            }
            let u = $crate::arbitrary::Unstructured::new(bytes);
            let $data: $dty = match <$dty as $crate::arbitrary::Arbitrary>::arbitrary_take_rest(u) {
                Ok(value) => value,
                Err(_) => return $crate::Corpus::Keep,
            };
            $crate::IntoCorpus::into_corpus($body)
        }
        $crate::__protocrash_glue!($init);
    };
    (|$data:ident: $dty:ty| $body:expr) => {
        $crate::fuzz_target!(init: (), |$data: $dty| $body);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __protocrash_glue {
    ($init:expr) => {
        fn __protocrash_init() {
            #[allow(clippy::unused_unit)]
            let () = $init;
        }

        /// The harness entry point (the crate is `#![no_main]`).
        #[no_mangle]
        pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
            $crate::__private::main(__protocrash_init, __protocrash_target)
        }

        /// The libFuzzer ABI, so other engines can drive the same target.
        #[no_mangle]
        pub extern "C" fn LLVMFuzzerTestOneInput(data: *const u8, size: usize) -> i32 {
            // SAFETY: the libFuzzer ABI promises `size` readable bytes at `data`.
            unsafe { $crate::__private::test_one_input(data, size, __protocrash_target) }
        }

        #[global_allocator]
        static __PROTOCRASH_ALLOC: $crate::__private::LimitAlloc = $crate::__private::LimitAlloc;
    };
}
