//! End-to-end: scaffolding, listing, and the errors a user meets first.

mod common;

use common::Fixture;

#[test]
fn init_add_list_and_the_generated_harness_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"my-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "pub fn parse(_: &[u8]) {}\n").unwrap();
    let fx = Fixture { dir };
    let init = fx.run(&["init"]);
    assert_eq!(init.code, Some(0), "{}", init.all());
    assert!(fx.path().join("fuzz/.gitignore").exists());
    let manifest = std::fs::read_to_string(fx.path().join("fuzz/Cargo.toml")).unwrap();
    assert!(manifest.contains("[dependencies.my-lib]\npath = \"..\""), "{manifest}");
    let again = fx.run(&["init"]);
    assert_eq!(again.code, Some(2), "{}", again.all());
    assert!(again.stderr.contains("already exists"), "{}", again.all());

    let add = fx.run(&["add", "second"]);
    assert_eq!(add.code, Some(0), "{}", add.all());
    let list = fx.run(&["list"]);
    assert_eq!(list.stdout, "fuzz_target_1\nsecond\n", "{}", list.all());

    let _slot = common::one_campaign_at_a_time();
    let run = fx.run(&["run", "second", "--runs", "20000", "--seed", "3", "--plain"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
}

#[test]
fn unknown_target_exits_2_and_lists_the_real_ones() {
    let fx = Fixture::new("findings");
    let out = fx.run(&["run", "nope", "--runs", "10"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("no fuzz target named 'nope'"), "{}", out.all());
    assert!(
        out.stderr
            .contains("clean, forks, gates, hang, init_reject, ladder, needs_dictionary, oom, overflow, shallow, slow, slow_ladder, triage, two_panics, typed"),
        "{}",
        out.all()
    );
}

#[test]
fn harness_that_does_not_compile_exits_2_with_cargos_error() {
    let fx = Fixture::new("broken");
    let out = fx.run(&["build"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("error[E0308]: mismatched types"), "{}", out.all());
    assert!(out.stderr.contains("building target does_not_build failed"), "{}", out.all());
}

#[test]
fn no_fuzz_project_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture { dir };
    let out = fx.run(&["list"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("cargo protocrash init"), "{}", out.all());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let fx = Fixture::new("findings");
    let out = fx.run(&["run", "clean", "--max-total-time", "soon"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("not a duration"), "{}", out.all());
}

#[test]
fn target_without_the_runtime_is_refused_with_advice() {
    let fx = Fixture::new("broken");
    let out = fx.run(&["run", "not_a_harness", "--runs", "10"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("uses neither the protocrash runtime nor libfuzzer-sys"), "{}", out.all());
    assert!(out.stderr.contains(r#"protocrash = "0.1""#), "{}", out.all());
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture { dir };
    let bash = fx.run(&["completions", "bash"]);
    assert_eq!(bash.code, Some(0), "{}", bash.all());
    assert!(
        bash.stdout.contains("complete -F _cargo__protocrash -o bashdefault -o default cargo-protocrash"),
        "{}",
        bash.stdout
    );
    for word in ["minimize", "--max-total-time", "--sync-interval", "--out-dir"] {
        assert!(bash.stdout.contains(word), "{word} missing from the bash completions");
    }
    let zsh = fx.run(&["completions", "zsh"]);
    assert!(zsh.code == Some(0) && zsh.stdout.starts_with("#compdef cargo-protocrash"), "{}", zsh.all());
    let fish = fx.run(&["completions", "fish"]);
    assert!(fish.code == Some(0) && fish.stdout.contains("complete -c cargo-protocrash"), "{}", fish.all());
    let bad = fx.run(&["completions", "tcsh"]);
    assert_eq!(bad.code, Some(2), "{}", bad.all());

    let man = fx.run(&["man"]);
    assert_eq!(man.code, Some(0), "{}", man.all());
    assert!(man.stdout.starts_with(".ie \\n(.g .ds Aq"), "{}", man.stdout);
    assert!(man.stdout.contains(".TH cargo-protocrash 1"), "{}", man.stdout);
    let out = fx.path().join("man1");
    let pages = fx.run(&["man", "--out-dir", out.to_str().unwrap()]);
    assert_eq!(pages.code, Some(0), "{}", pages.all());
    let run_page = std::fs::read_to_string(out.join("cargo-protocrash-run.1")).unwrap();
    assert!(run_page.contains("max\\-total\\-time"), "{run_page}");
    assert!(out.join("cargo-protocrash.1").is_file() && out.join("cargo-protocrash-minimize.1").is_file());
    assert_eq!(pages.stdout.lines().count(), std::fs::read_dir(&out).unwrap().count());
}
