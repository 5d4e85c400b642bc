"""Drives one fuzz target through ClusterFuzz's own libFuzzer engine (PyPI `clusterfuzz`,
the code ClusterFuzzLite runs) and prints what came back as one JSON object.

    python drive.py fuzz TARGET WORKDIR MAX_TIME [SEEDS [nofollow]]
                                                        fuzz (from a copy of SEEDS), then
                                                        reproduce / minimise the crash
    python drive.py reproduce TARGET INPUT              reproduce one input
    python drive.py merge TARGET WORKDIR CORPUS...      two-step merge of CORPUS dirs

Used by tests/clusterfuzz.rs (protocrash's binary and the real libFuzzer build of the same
target); nothing here is specific to either engine.
"""

import json
import os
import shutil
import sys


def setup(workdir):
    import clusterfuzz
    root = os.path.dirname(clusterfuzz.__file__)
    os.makedirs(workdir, exist_ok=True)
    os.environ.update({
        'CONFIG_DIR_OVERRIDE': os.path.join(root, 'lib-config'),
        'ROOT_DIR': workdir,
        'FUZZ_INPUTS_DISK': os.path.join(workdir, 'inputs'),
        'PROJECT_NAME': 'protocrash-fixture',
        'JOB_NAME': 'libfuzzer_none_protocrash',
        'FAIL_RETRIES': '1',
        'USE_MINIJAIL': 'False',
        # Reproduction runs with -timeout=TEST_TIMEOUT-5 (ClusterFuzz's rule): 2 s here.
        'TEST_TIMEOUT': '7',
    })
    os.makedirs(os.environ['FUZZ_INPUTS_DISK'], exist_ok=True)
    from clusterfuzz import fuzz
    return fuzz.get_engine('libFuzzer')


def parse(output):
    from clusterfuzz import stacktraces
    info = stacktraces.StackParser(symbolized=True, detect_ooms_and_hangs=True).parse(output)
    return {'crash_type': info.crash_type, 'crash_state': info.crash_state}


def reproduce(engine, target, path, arguments=()):
    result = engine.reproduce(target, path, list(arguments), 60)
    out = {'return_code': result.return_code, 'output': result.output}
    out.update(parse(result.output))
    return out


def main():
    mode, target = sys.argv[1], os.path.abspath(sys.argv[2])
    if mode == 'reproduce':
        engine = setup(os.path.join(os.path.dirname(os.path.abspath(sys.argv[3])), 'cf-work'))
        print(json.dumps(reproduce(engine, target, sys.argv[3])))
        return
    workdir = os.path.abspath(sys.argv[3])
    engine = setup(workdir)
    if mode == 'merge':
        out_dir = os.path.join(workdir, 'merged')
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        result = engine.minimize_corpus(target, [], [os.path.abspath(d) for d in sys.argv[4:]], out_dir,
                                        os.path.join(workdir, 'merge-repro'), 120)
        print(json.dumps({'stats': result.stats, 'files': sorted(os.listdir(out_dir)), 'logs': result.logs}))
        return
    max_time = int(sys.argv[4])
    corpus = os.path.join(workdir, 'corpus')
    repro = os.path.join(workdir, 'reproducers')
    for d in (corpus, repro):
        os.makedirs(d, exist_ok=True)
    if len(sys.argv) > 5 and sys.argv[5]:
        for name in os.listdir(sys.argv[5]):
            shutil.copy(os.path.join(sys.argv[5], name), corpus)
    follow = len(sys.argv) <= 6 or sys.argv[6] != 'nofollow'
    options = engine.prepare(corpus, target, os.path.dirname(target))
    result = engine.fuzz(target, options, repro, max_time)
    out = {
        'command': result.command,
        'stats': result.stats,
        'time_executed': result.time_executed,
        'corpus_files': len(os.listdir(corpus)),
        'logs': result.logs,
        'crashes': [],
        'crash_count': len(result.crashes),
    }
    for crash in result.crashes if follow else []:
        entry = {'input_path': crash.input_path, 'reproduce_args': crash.reproduce_args}
        entry.update(parse(crash.stacktrace))
        entry['reproduce'] = reproduce(engine, target, crash.input_path, crash.reproduce_args)
        minimized = os.path.join(workdir, 'minimized')
        m = engine.minimize_testcase(target, crash.reproduce_args, crash.input_path, minimized, 60)
        entry['minimize'] = {'return_code': m.return_code, 'output': m.output,
                             'size_before': os.path.getsize(crash.input_path),
                             'size_after': os.path.getsize(minimized) if os.path.exists(minimized) else None}
        if os.path.exists(minimized):
            entry['minimized_reproduce'] = reproduce(engine, target, minimized, crash.reproduce_args)
        cleansed = os.path.join(workdir, 'cleansed')
        c = engine.cleanse(target, crash.reproduce_args, crash.input_path, cleansed, 60)
        entry['cleanse'] = {'return_code': c.return_code, 'output': c.output,
                            'size_after': os.path.getsize(cleansed) if os.path.exists(cleansed) else None}
        if os.path.exists(cleansed):
            entry['cleansed_reproduce'] = reproduce(engine, target, cleansed, crash.reproduce_args)
        out['crashes'].append(entry)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
