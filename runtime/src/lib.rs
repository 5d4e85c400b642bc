//! The protocrash runtime: what a harness links. `fuzz_target!` turns a closure into a
//! harness binary that is, depending on how it is started, a fork-server worker of a
//! `cargo protocrash run` campaign, or a replayer of input files (`harness FILE…`).
//!
//! Two engines, chosen at build time. `cargo protocrash` builds with `--cfg protocrash` and
//! gets this crate's own engine. `cargo fuzz build` (and so OSS-Fuzz and ClusterFuzzLite)
//! sets `--cfg fuzzing` alone: then the same `fuzz_target!` links libFuzzer through
//! `libfuzzer-sys` and none of the engine below is compiled, so the two never define the
//! same SanitizerCoverage callbacks or `main`. A plain `cargo build` gets the own engine.
//!
//! The same source is also built under the package name `libfuzzer-sys` (see
//! `libfuzzer-compat/`), which is how cargo-fuzz projects run under `cargo protocrash`
//! unchanged; that is why this crate also carries libfuzzer-sys's `-> Corpus` macro forms
//! and a clear error for its custom-mutator macros.
//!
//! Unsafe lives here and only here: the SanitizerCoverage callbacks and counter access
//! (`sancov`), the shared memory (`shared`, `statsfile`), fork/wait/kill (`forkserver`,
//! `process`), signal handlers (`signals`) and the allocator (`alloc`). Each block argues its
//! invariant in a `// SAFETY:` comment.
#![deny(clippy::undocumented_unsafe_blocks)]

/// Items compiled only with the protocrash engine (everything but a `cargo fuzz` build).
macro_rules! own_engine {
    ($($item:item)*) => { $( #[cfg(not(all(fuzzing, not(protocrash))))] $item )* };
}

own_engine! {
    mod aflstats;
    mod alloc;
    mod cmp;
    mod corpus;
    mod entry;
    mod findings;
    mod forkserver;
    mod libfuzzer;
    mod log;
    mod fuzzer;
    mod mutate;
    mod penalty;
    mod process;
    mod replay;
    mod report;
    mod rng;
    mod sancov;
    mod shared;
    mod signals;
    mod statsfile;
    mod symbols;
    mod sync;
    mod tmin;
    mod util;
    mod warm;
    mod watchdog;
}

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

impl From<()> for Corpus {
    fn from(_: ()) -> Corpus {
        Corpus::Keep
    }
}

#[doc(hidden)]
pub mod __private {
    #[cfg(not(all(fuzzing, not(protocrash))))]
    pub use crate::alloc::LimitAlloc;
    #[cfg(not(all(fuzzing, not(protocrash))))]
    pub use crate::entry::{main, test_one_input};
    /// libFuzzer's Rust glue: its panic hook, and the link to libFuzzer itself.
    #[cfg(all(fuzzing, not(protocrash)))]
    pub use libfuzzer_sys as libfuzzer;

    /// The libFuzzer return code of a decision (-1 keeps the input out of the corpus).
    pub fn libfuzzer_code(c: crate::Corpus) -> i32 {
        match c {
            crate::Corpus::Keep => 0,
            crate::Corpus::Reject => -1,
        }
    }
}

/// Defines the fuzz target, in the same forms as `libfuzzer_sys::fuzz_target!`:
///
/// ```ignore
/// fuzz_target!(|data: &[u8]| { let _ = my_crate::parse(data); });
/// fuzz_target!(|input: MyType| { my_crate::run(input); });       // MyType: Arbitrary
/// fuzz_target!(init: { my_crate::setup(); }, |data: &[u8]| { my_crate::parse(data); });
/// fuzz_target!(|data: &[u8]| -> Corpus { if data.is_empty() { Corpus::Reject } else { Corpus::Keep } });
/// ```
///
/// The body may evaluate to `()` or to [`Corpus`] (`Corpus::Reject` keeps an input out of the
/// corpus). Typed inputs are decoded exactly as cargo-fuzz decodes them, so corpora carry over.
#[macro_export]
macro_rules! fuzz_target {
    // `-> T { … }`: the return type is checked by binding the body to it.
    (|$data:ident| -> $rty:ty $body:block) => {
        $crate::fuzz_target!(init: (), |$data: &[u8]| -> $rty $body);
    };
    (init: $init:expr, |$data:ident| -> $rty:ty $body:block) => {
        $crate::fuzz_target!(init: $init, |$data: &[u8]| -> $rty $body);
    };
    (|$data:ident: &[u8]| -> $rty:ty $body:block) => {
        $crate::fuzz_target!(init: (), |$data: &[u8]| { let result: $rty = $body; result });
    };
    (init: $init:expr, |$data:ident: &[u8]| -> $rty:ty $body:block) => {
        $crate::fuzz_target!(init: $init, |$data: &[u8]| { let result: $rty = $body; result });
    };
    (|$data:ident: $dty:ty| -> $rty:ty $body:block) => {
        $crate::fuzz_target!(init: (), |$data: $dty| -> $rty $body);
    };
    (init: $init:expr, |$data:ident: $dty:ty| -> $rty:ty $body:block) => {
        $crate::fuzz_target!(init: $init, |$data: $dty| { let result: $rty = $body; result });
    };
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

/// The protocrash engine's glue: `main`, the libFuzzer ABI for other drivers, the allocator
/// that enforces the memory limit.
#[cfg(not(all(fuzzing, not(protocrash))))]
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

/// The libFuzzer glue (`cargo fuzz build`): libfuzzer-sys defines `LLVMFuzzerTestOneInput`
/// and calls `rust_fuzzer_test_input`; libFuzzer supplies `main` and the coverage callbacks.
#[cfg(all(fuzzing, not(protocrash)))]
#[doc(hidden)]
#[macro_export]
macro_rules! __protocrash_glue {
    ($init:expr) => {
        /// Called once by libFuzzer before the first input.
        #[no_mangle]
        pub extern "C" fn LLVMFuzzerInitialize(argc: *const isize, argv: *const *const *const u8) -> isize {
            // libfuzzer-sys's panic hook: a panic aborts, so libFuzzer reports it as a crash.
            $crate::__private::libfuzzer::initialize(argc, argv);
            #[allow(clippy::unused_unit)]
            let () = $init;
            0
        }

        /// Called by libfuzzer-sys's `LLVMFuzzerTestOneInput` (Rust to Rust, hence the slice).
        #[no_mangle]
        #[allow(improper_ctypes_definitions)]
        pub extern "C" fn rust_fuzzer_test_input(bytes: &[u8]) -> i32 {
            $crate::__private::libfuzzer_code(__protocrash_target(bytes))
        }
    };
}

/// libfuzzer-sys's custom mutator hook. protocrash brings its own mutators (and comparison
/// feedback), and a campaign cannot call a target-defined one: this stops the build with a
/// message rather than a link error.
#[macro_export]
macro_rules! fuzz_mutator {
    ($($tt:tt)*) => {
        compile_error!(
            "fuzz_mutator! (a custom libFuzzer mutator) is not supported by cargo protocrash: protocrash uses its \
             own mutators. Build this target with `cargo fuzz`, or remove the fuzz_mutator! block (a typed \
             target, `|input: MyType|` with MyType: Arbitrary, often covers what the mutator did)."
        );
    };
}

/// libfuzzer-sys's custom crossover hook; not supported, for the same reason as
/// [`fuzz_mutator!`].
#[macro_export]
macro_rules! fuzz_crossover {
    ($($tt:tt)*) => {
        compile_error!(
            "fuzz_crossover! (a custom libFuzzer crossover) is not supported by cargo protocrash: protocrash uses \
             its own splicing. Build this target with `cargo fuzz`, or remove the fuzz_crossover! block."
        );
    };
}
