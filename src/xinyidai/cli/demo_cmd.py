"""`xinyidai demo-data generate` and `xinyidai demo`: synthetic source files and the demo platform."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import typer

from xinyidai.cli.root import emit, settings

demo_data_app = typer.Typer(help="Synthetic source data (what departments deliver).", no_args_is_help=True)


def _progress_bar(total: int) -> Any:
    """A progress callback drawing on stderr when it is a terminal, silent otherwise."""
    if not sys.stderr.isatty():
        return None
    step = max(total // 100, 1)

    def progress(done: int) -> None:
        if done % step == 0 or done == total:
            pct = done * 100 // max(total, 1)
            sys.stderr.write(f"\r生成中 [{'#' * (pct // 4):<25}] {pct:3d}% {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return progress


@demo_data_app.command("generate")
def generate(
    enterprises: int = typer.Option(..., min=1, help="How many enterprises."),
    seed: int = typer.Option(..., help="Random seed: same seed and size, byte-identical files."),
    out: Path = typer.Option(..., help="Output directory."),
    workers: int = typer.Option(1, min=1, help="Processes drawing enterprises in parallel (files are identical either way)."),
) -> None:
    """Write, deterministically, the files departments deliver, and a manifest."""
    from xinyidai.demodata import generate as run

    summary = run(enterprises=enterprises, seed=seed, out_dir=out, progress=_progress_bar(enterprises), workers=workers)
    emit(dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else summary)


def demo(
    enterprises: int = typer.Option(2000, help="Demo enterprises to generate (enough defaults to train a scorecard)."),
    seed: int = typer.Option(2026, help="Seed of the demo data."),
    serve: bool = typer.Option(True, help="Serve after loading."),
) -> None:
    """Set up the embedded demo: migrate, generate and load data, create one login per role, serve."""
    from xinyidai.app import build_container
    from xinyidai.db import create_database_engine
    from xinyidai.db import migrate as db_migrate
    from xinyidai.demo import department_simulator, load_demo_data, read_csv_rows, seed_principals
    from xinyidai.demodata import generate as run
    from xinyidai.evaluation import prepare_demo
    from xinyidai.kernel.clock import today

    s = settings()
    create_database_engine(s.database_url).dispose()
    db_migrate.upgrade(s.database_url)
    data_dir = s.var_dir / "demo-data"
    if not (data_dir / "manifest.json").exists():
        run(enterprises=enterprises, seed=seed, out_dir=data_dir, progress=_progress_bar(enterprises))
    container = build_container(s)
    first_active = next(
        row["uscc"] for _line, row in read_csv_rows(data_dir / "registration.csv") if row["status"] in ("存续", "在业")
    )
    logins = seed_principals(container, enterprise_uscc=first_active)
    print("\n演示数据归集（物理归集）：")
    for entry in load_demo_data(container, data_dir):
        if entry.result is None:
            print(f"  {entry.file:<24} 未能读取：{entry.error}")
            continue
        r = entry.result
        print(f"  {entry.file:<24} 新增 {r.accepted}，更新 {r.updated}，未变 {r.unchanged}，拒收 {r.rejected}")
    print(f"数据文件目录：{data_dir}")
    evaluated = prepare_demo(container, outcomes_csv=data_dir / "outcomes.csv", as_of=today(container.clock))
    evaluation_run = evaluated["run"]
    print(f"\n信用评价：{evaluation_run['enterprises']} 户企业已评价，等级分布 {evaluation_run['grades']}")
    print(f"\n平台地址：http://{s.host}:{s.port}/\n演示账号（每个角色一个）：")
    for login in logins:
        print(f"  {login.role.label:<12} 用户名 {login.username:<10} 密码 {login.password}")
    print()
    sys.stdout.flush()
    container.db.dispose()
    if serve:
        from xinyidai.cli.serve_cmd import serve as run_server

        with department_simulator(build_container(s), data_dir) as url:
            print(f"部门接口模拟服务：{url}（可用 POST {url}/_control 注入故障）\n")
            sys.stdout.flush()
            run_server(host=None, port=None)


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(demo_data_app, name="demo-data")
    app.command("demo")(demo)
