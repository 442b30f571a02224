"""The --from-nginx round trip for every configuration the integration tests of this run
generated: YAML -> nginx mail config (test_from_nginx.yaml_to_nginx) -> --from-nginx ->
YAML, with -T equal. It runs last on purpose (tests run in file order): the runner keeps
each test's temporary directory until the run ends, so the mailproxy.yaml of every earlier
test is there, with the certificates it names. Run alone it finds nothing and is skipped."""

import difflib
import glob
import os
from concurrent.futures import ThreadPoolExecutor

from harness import run_cli, timeout
from test_from_nginx import parse_dump, yaml_to_nginx


def _body(r):
    return r.stdout.split("\n", 1)[1] if r.stdout.startswith("# effective configuration") else None


def _inexpressible(dump):
    """Why nginx's syntax cannot say this configuration, or None: a server that empties
    a list its mail level sets (nginx can only inherit or replace with a value)."""
    cf = parse_dump(dump)
    mail = dict(cf["mail"])
    for srv in cf["servers"]:
        for k, v in srv:
            if v == [] and mail.get(k) not in (None, []) and k not in (
                    "imap_capabilities", "pop3_capabilities", "smtp_capabilities"):
                return "a server empties %s" % k
    return None


def _one(binary, yaml_path):
    """None when the round trip holds or does not apply, else a description."""
    prefix = os.path.dirname(yaml_path)
    r = run_cli(binary, "-T", "-p", prefix, "-c", yaml_path, timeout=60)
    before = _body(r) if r.rc == 0 else None
    if before is None:
        # a test's deliberately broken configuration, or one whose files it removed
        return "skip: -T refuses it: %s" % " ".join(r.stderr.strip().splitlines()[-2:-1])
    why = _inexpressible(before)
    if why:
        return "skip: " + why
    work = yaml_path + ".from-nginx"
    os.makedirs(work, exist_ok=True)
    nginx_conf = os.path.join(work, "nginx.conf")
    with open(nginx_conf, "w") as f:
        f.write(yaml_to_nginx(before))
    r = run_cli(binary, "--from-nginx", nginx_conf, timeout=60)
    if r.rc != 0:
        return "%s: --from-nginx failed: %s" % (yaml_path, r.stderr.strip())
    if "not carried" in r.stdout:
        return "%s: something not carried:\n%s" % (yaml_path, r.stdout)
    out = os.path.join(work, "mailproxy.yaml")
    with open(out, "w") as f:
        f.write(r.stdout)
    r = run_cli(binary, "-T", "-p", prefix, "-c", out, timeout=60)
    after = _body(r) if r.rc == 0 else None
    if after != before:
        return "%s: the round trip changed the configuration\n%s" % (
            yaml_path, r.stderr.strip() if after is None else "\n".join(
                difflib.unified_diff(before.splitlines(), after.splitlines(), "before",
                                     "after", lineterm="", n=1)))
    return None


@timeout(900)
def test_round_trip_every_generated_config(ctx):
    base = os.path.dirname(ctx.tmp)
    mine = os.path.basename(ctx.tmp)
    paths = sorted(p for p in glob.glob(os.path.join(base, "*", "**", "*.yaml"), recursive=True)
                   if not p.startswith(os.path.join(base, mine) + os.sep)
                   and ".from-nginx" not in p and "/nginx" not in p)
    if not paths:
        ctx.skip("no configuration of earlier tests in this run (run with the whole suite)")
    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(lambda p: (p, _one(ctx.bin, p)), paths))
    done = [p for p, res in results if res is None]
    skipped = ["%s: %s" % (p, res) for p, res in results if res and res.startswith("skip")]
    failed = [res for _, res in results if res and not res.startswith("skip")]
    print("round trip: %d configurations, %d held, %d skipped" % (
        len(paths), len(done), len(skipped)))
    for line in skipped:
        print("  " + line)
    assert not failed, "%d of %d round trips failed:\n%s" % (
        len(failed), len(paths), "\n\n".join(failed[:10]))
    assert done, "no configuration round-tripped"
