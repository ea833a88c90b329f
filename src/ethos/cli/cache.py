"""``ethos cache``: inspect and invalidate the cache store directly."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import CLIError


def _open_cache():
    """The service's cache over the *existing* store named by ETHOS_CACHE_URL (or the state
    dir's): a missing state dir or store, or an unreachable one, is an error, never an empty
    cache (see :mod:`ethos.cli.stores`)."""
    from ..cache import StoreError
    from ..service.state import AppState
    from ..settings import Settings
    from .stores import open_existing_store, require_state_dir

    try:
        settings = Settings()
    except ValueError as e:
        raise CLIError(str(e)) from None
    if settings.cache_url:
        check = "ETHOS_CACHE_URL"
    else:  # the URL comes from the state dir: a mistyped one must not read as an empty cache
        require_state_dir(settings.state_dir, "ETHOS_STATE_DIR (or set ETHOS_CACHE_URL)")
        check = "ETHOS_STATE_DIR / ETHOS_CACHE_URL"
    # checked here (nothing created) before the service's cache opens it for real
    open_existing_store(settings.resolved_cache_url(), check,
                        timeout_s=settings.cache_store_timeout_s).close()
    try:
        state = AppState.build(settings)
    except (StoreError, ValueError) as e:
        raise CLIError(str(e)) from None
    if not state.cache.check_store():
        raise CLIError(f"the cache store cannot be reached: {state.cache.store_error}")
    return state


@click.group()
def cache() -> None:
    """Inspect and invalidate the cache (the store named by ETHOS_CACHE_URL)."""


@cache.command()
@click.option("--pattern", "key_pattern", default=None, help="'all' or a glob over keys.")
@click.option("--doc", "source", default=None, help="Remove answers built on this document.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def invalidate(key_pattern: str | None, source: str | None, as_json: bool, quiet: bool) -> None:
    """Remove entries by key pattern or by knowledge-base document.

    A pattern is removed in bounded steps (progress on stderr); one that fails part-way has
    removed whole steps, and running the same command again removes the rest."""
    from ..cache import InvalidPattern, StoreUnavailable, parse_pattern

    if bool(key_pattern) == bool(source):
        raise CLIError("give exactly one of --pattern or --doc", 2)
    glob = None
    if key_pattern:
        try:
            glob = parse_pattern(key_pattern)
        except InvalidPattern as e:
            raise CLIError(str(e), 2) from None
    state = _open_cache()
    done = {"examined": 0, "removed": 0}

    def progress(examined: int, removed: int) -> None:
        done.update(examined=examined, removed=removed)
        if not quiet:
            click.echo(f"\rexamined {examined:,} keys, removed {removed:,} entries", err=True, nl=False)

    try:
        if source:
            removed = state.cache.invalidate_source(source)
            out = {"removed": removed, "source": source}
        else:
            removed = state.cache.invalidate(glob, progress=progress)
            out = {"removed": removed, "examined": done["examined"], "key_pattern": key_pattern}
    except StoreUnavailable as e:
        more = (f"; {done['removed']:,} entries were removed before it failed: run the same"
                " command again to remove the rest") if done["removed"] else ""
        raise CLIError(f"the cache store cannot be reached: {e}{more}") from None
    finally:
        if done["examined"] and not quiet:
            click.echo("", err=True)
        state.cache.close()
    click.echo(json.dumps(out) if as_json else f"removed {out['removed']} entries")


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Entries and size of the store."""
    state = _open_cache()
    try:
        s = state.cache.store.stats()
    finally:
        state.cache.close()
    out = {"entries": s.entries, "size_bytes": s.size_bytes, "backend": s.backend}
    click.echo(json.dumps(out) if as_json else
               f"{s.entries} entries, {s.size_bytes} bytes ({s.backend})")


@cache.command("scan-pii")
@click.option("--purge", is_flag=True, help="Remove the entries found.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def scan_pii(purge: bool, as_json: bool, quiet: bool) -> None:
    """Scan every stored entry for personal data. Exit 1 when anything is found.

    Reports keys, entity types and counts, and how often each entry was served; never
    the values themselves.
    """
    from ..cache import StoreUnavailable
    from ..cache.scan.leaks import scan_store

    state = _open_cache()
    total = state.cache.store.count()

    def progress(scanned: int, leaking: int) -> None:
        if not quiet:
            click.echo(f"\rscanned {scanned:,}/{total:,} entries, {leaking} leaking",
                       err=True, nl=False)

    try:
        report = scan_store(state.cache.store, purge=purge, progress=progress)
    except StoreUnavailable as e:
        raise CLIError(f"the cache store cannot be reached: {e}") from None
    finally:
        state.cache.close()
    if not quiet:
        click.echo("", err=True)
    out = report.to_dict()
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"scanned {report.scanned:,} entries: {len(report.leaks)} hold personal data")
        for leak in report.leaks:
            kinds = ", ".join(f"{k} x{n}" for k, n in leak["entities"].items())
            click.echo(f"  {leak['key']}  {kinds}  (served {leak['served']} times)")
        if report.purged:
            click.echo(f"purged {report.purged} entries")
    if report.leaks:
        raise SystemExit(1)


@cache.command()
@click.argument("pairs_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--namespace", default=None,
              help="The namespace the thresholds are for (default: ETHOS_CACHE_NAMESPACE).")
@click.option("--min-precision", type=click.FloatRange(0.0, 1.0), default=0.98, show_default=True,
              help="Precision the chosen thresholds must keep (share of served answers that are right).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def calibrate(pairs_file: Path, namespace: str | None, min_precision: float, as_json: bool,
              quiet: bool) -> None:
    """Choose a namespace's semantic thresholds from a labelled file of question pairs.

    PAIRS_FILE: a JSON list or JSON lines of {"a": stored question, "b": asked question,
    "label": 1 when a's answer is right for b, else 0}. With the pair model (the default when
    the package ships one; see ETHOS_SEMANTIC_PAIR_MODEL), prints precision and recall over its
    threshold p* at each cosine floor from 0.2 to 0.7, and the ETHOS_SEMANTIC_PAIR_THRESHOLDS
    value (p* and floor) that keeps --min-precision with the most recall; without it, the same for the cosine thresholds
    (ETHOS_SEMANTIC_THRESHOLDS). Reads no cache store.
    """
    from ..agent import KnowledgeBase
    from ..cache.keys import validate_namespace
    from ..cache.semantic import MiniLMEmbedder
    from ..cache.semantic.calibrate import calibrate as run
    from ..cache.semantic.calibrate import format_thresholds, load_pairs
    from ..cache.semantic.pair_model import PairModelError, configured
    from ..settings import Settings

    try:
        settings = Settings()
        ns = namespace or settings.cache_namespace
        validate_namespace(ns)
        pairs = load_pairs(pairs_file)
        kb = KnowledgeBase.from_dir(settings.kb_dir) if settings.kb_dir else KnowledgeBase.bundled()
    except ValueError as e:
        raise CLIError(str(e), 2) from None
    say = (lambda m: None) if quiet or as_json else (lambda m: click.echo(m, err=True))
    say(f"{len(pairs)} pairs ({sum(p.same for p in pairs)} the same question); loading the model")
    model = MiniLMEmbedder()
    pair_model = configured(settings.semantic_pair_model)
    if pair_model is not None:
        try:
            pair_model.load()
        except PairModelError as e:
            raise CLIError(str(e), 2) from None
        _calibrate_pair_model(pairs, model, pair_model, ns, settings, kb, min_precision,
                              as_json, say)
        return
    result = run(pairs, model.embed, names=[*kb.plan_names(), *kb.product_names()],
                 min_precision=min_precision, progress=say)
    current = settings.resolved_semantic_thresholds()
    chosen = dict(current)
    if result.best is not None:
        chosen[ns] = (result.best.threshold, result.best.threshold_same)
    out = {
        "namespace": ns, "pairs": result.pairs, "same": result.positives,
        "min_precision": min_precision,
        "best": None if result.best is None else _point(result.best),
        "table": [_point(p) for p in result.table],
        "ETHOS_SEMANTIC_THRESHOLDS": format_thresholds(chosen) if result.best is not None else None,
    }
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"namespace {ns}: {result.pairs} pairs, {result.positives} the same question")
        click.echo("threshold  threshold_same  precision  recall  served  wrong")
        for p in result.table:
            mark = "  <- chosen" if p == result.best else ""
            click.echo(f"{p.threshold:9.2f}  {p.threshold_same:14.2f}  {p.precision:9.3f}  "
                       f"{p.recall:6.3f}  {p.served:6d}  {p.wrong:5d}{mark}")
        if result.best is None:
            click.echo(f"no thresholds keep precision >= {min_precision:g} on these pairs: the"
                       " namespace keeps its current thresholds (more pairs, or a lower"
                       " --min-precision)")
        else:
            b = result.best
            click.echo(f"\nprecision {b.precision:.3f} at recall {b.recall:.3f} with threshold "
                       f"{b.threshold:g}, threshold_same {b.threshold_same:g}. To use it, set:")
            click.echo(f"ETHOS_SEMANTIC_THRESHOLDS={format_thresholds(chosen)}")
    if result.best is None:
        raise SystemExit(1)


def _calibrate_pair_model(pairs, model, pair_model, ns: str, settings, kb, min_precision: float,
                          as_json: bool, say) -> None:
    from ..cache.semantic.calibrate import FLOOR_GRID, calibrate_pairs, format_pair_thresholds

    result = calibrate_pairs(pairs, model.embed, pair_model.score_pairs,
                             names=[*kb.plan_names(), *kb.product_names()], floors=FLOOR_GRID,
                             min_precision=min_precision, progress=say)
    chosen, floors = dict(settings.resolved_pair_thresholds()), dict(settings.resolved_pair_floors())
    if result.best is not None:
        chosen[ns], floors[ns] = result.best.p_min, result.best.floor
    value = format_pair_thresholds(chosen, floors) if result.best is not None else None
    if as_json:
        click.echo(json.dumps({
            "namespace": ns, "pairs": result.pairs, "same": result.positives,
            "min_precision": min_precision, "pair_model": str(pair_model.path),
            "model_p_min": pair_model.threshold, "floor": result.floor,
            "best": None if result.best is None else _pair_point(result.best),
            "floors": [{"floor": f, "best": None if b is None else _pair_point(b)}
                       for f, b in result.by_floor],
            "table": [_pair_point(p) for p in result.table],
            "ETHOS_SEMANTIC_PAIR_THRESHOLDS": value,
        }))
    else:
        click.echo(f"namespace {ns}: {result.pairs} pairs, {result.positives} the same question;"
                   f" pair model {pair_model.name} (its own p* {pair_model.threshold:g})")
        click.echo(f"per cosine floor, the lowest p* keeping precision >= {min_precision:g}:")
        click.echo("floor     p*  precision  recall  served  wrong")
        for f, b in result.by_floor:
            if b is None:
                click.echo(f"{f:5.2f}  {'none':>5s}")
                continue
            mark = "  <- chosen" if b == result.best else ""
            click.echo(f"{f:5.2f}  {b.p_min:5.2f}  {b.precision:9.3f}  {b.recall:6.3f}  {b.served:6d}  "
                       f"{b.wrong:5d}{mark}")
        click.echo(f"\nevery p* at the cosine floor {result.floor:g}:")
        click.echo("   p*  precision  recall  served  wrong")
        for p in result.table:
            mark = "  <- chosen" if p == result.best else ""
            click.echo(f"{p.p_min:5.2f}  {p.precision:9.3f}  {p.recall:6.3f}  {p.served:6d}  "
                       f"{p.wrong:5d}{mark}")
        if result.best is None:
            click.echo(f"no p* keeps precision >= {min_precision:g} on these pairs: the namespace"
                       " keeps the model's own p* (more pairs, or a lower --min-precision)")
        else:
            b = result.best
            click.echo(f"\nprecision {b.precision:.3f} at recall {b.recall:.3f} with p* {b.p_min:g}"
                       f" and the cosine floor {b.floor:g}. To use it, set:")
            click.echo(f"ETHOS_SEMANTIC_PAIR_THRESHOLDS={value}")
    if result.best is None:
        raise SystemExit(1)


def _pair_point(p) -> dict:
    return {"p_min": p.p_min, "floor": p.floor, "precision": round(p.precision, 4),
            "recall": round(p.recall, 4), "served": p.served, "wrong": p.wrong}


def _point(p) -> dict:
    return {"threshold": p.threshold, "threshold_same": p.threshold_same,
            "precision": round(p.precision, 4), "recall": round(p.recall, 4),
            "served": p.served, "wrong": p.wrong}
