"""The `crisis` command: a Flask CLI group with the project's own commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext
from sqlalchemy import select

from crisis import backup, clock, create_app
from crisis.auth import invitations, people_import
from crisis.auth import roster as duty
from crisis.auth import service as people
from crisis.auth.labels import ROLE_LABELS
from crisis.auth.models import Role
from crisis.config import resource_dir
from crisis.errors import NotFound, ValidationFailed
from crisis.exercises import scenarios
from crisis.extensions import db
from crisis.i18n import _
from crisis.playbooks import library_doc, workdays
from crisis.playbooks import service as playbooks
from crisis.playbooks.service import library_files
from crisis.playbooks.validator import validate_file
from crisis.reports.cli import seed_history, seed_history_command
from crisis.seed import DEMO_PASSWORD, demo_accounts, plan_demo_roster, seed_demo_data, seed_live_desk
from crisis.system import retention
from crisis.timefmt import zone_label
from crisis.units import indonesia
from crisis.units import service as units
from crisis.units.models import Unit, UnitKind

# The option of a service's field, where the two names differ.
OPTION_OF_FIELD = {"parent_id": "--parent", "unit_id": "--unit", "area_code": "--kemendagri"}


def _create_app(*_args: Any) -> Any:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, load_dotenv=False)
def main() -> None:
    """crisis: issue and crisis response desk for government PR units."""


main.add_command(shell_command)
main.add_command(routes_command)


class BadInput(click.ClickException):
    """Input a command refuses: each problem on a line of stderr, exit status 2 (as click's own
    usage errors), and nothing written."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join([*problems, _("Nothing was changed.")]))

    @classmethod
    def of_fields(cls, errors: dict[str, list[str]]) -> BadInput:
        """A service's ValidationFailed errors, each under the option it came from."""
        return cls(
            [
                f"{OPTION_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: {message}"
                for field, messages in errors.items()
                for message in messages
            ]
        )

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


@main.group("seed")
def seed_group() -> None:
    """Load demonstration data."""


def seed_living_demo(*, session: Any, now: Any) -> dict[str, Any]:
    """The demo as a newcomer should first see it: the organisation, four months of settled history
    (resolved incidents, approved reviews, a populated dashboard) and today's desk (open issues, two
    running incidents), all relative to `now`."""
    seed_demo_data(session=session, now=now)
    history = seed_history(session=session, incidents=120, months=4, seed=2026, now=now, settled=True)
    return {"history": history, **seed_live_desk(session=session, now=now)}


@seed_group.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing (but print the accounts) when units exist.")
@click.option(
    "--organisation-only", is_flag=True, help="Units, people and duty shifts only: no issues, incidents or history."
)
@with_appcontext
def seed_demo(if_empty: bool, organisation_only: bool) -> None:
    """A national desk, three provinces in three time zones, two regencies each, users, duty shifts;
    unless --organisation-only, a history and today's open issues and running incidents too."""
    if db.session.query(Unit.id).first() is not None:
        if not if_empty:
            raise click.ClickException("The database already has units; demo data goes into an empty one.")
        click.echo("Database not empty: demo data not loaded again.")
        # A demo seeded days ago still has people on duty today and the week ahead.
        added = plan_demo_roster(session=db.session, now=clock.now())
        db.session.commit()
        if added:
            click.echo(f"Demo duty roster planned through the coming week ({added} shifts added).")
    elif organisation_only:
        seed_demo_data(session=db.session)
        db.session.commit()
        click.echo("Demo organisation loaded.")
    else:
        made = seed_living_demo(session=db.session, now=clock.now())
        db.session.commit()
        click.echo("Demo organisation loaded.")
        click.echo(
            f"Demo desk: {len(made['issues'])} open issues, 2 running incidents, "
            f"{made['history']['incidents']} past incidents with {made['history']['reviews']} reviews."
        )
    click.echo(f"\nDemo accounts (password for all: {DEMO_PASSWORD}):")
    for email, role, unit in demo_accounts():
        click.echo(f"  {email:38} {role:11} {unit}")


@main.group("sops")
def sops_group() -> None:
    """Validate, publish and export SOP playbooks (sops/*.yaml)."""


def _sop_paths(files: tuple[str, ...]) -> list[Path]:
    """Files as given and every *.yaml and *.yml of each directory, each once, in sorted order; the
    library shipped with crisis when none is given. Exercise scenarios are not among them
    (`_scenario_paths`)."""
    return _library_paths(files)[0]


def _library_paths(files: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """(playbook files, exercise scenario files): a folder's *.yaml are playbooks and its exercises/
    subfolder holds scenarios; a file in (or a folder named) exercises is a scenario."""
    if not files:
        library = resource_dir("sops")
        return library_files(library), scenarios.scenario_files(library)
    paths: dict[Path, Path] = {}
    scenario_paths: dict[Path, Path] = {}
    for name in files:
        path = Path(name)
        if path.is_dir() and path.name == scenarios.FOLDER:
            found_scenarios, found = library_files(path), []
        elif path.is_dir():
            found, found_scenarios = library_files(path), scenarios.scenario_files(path)
        elif path.parent.name == scenarios.FOLDER:
            found, found_scenarios = [], [path]
        else:
            found, found_scenarios = [path], []
        if not found and not found_scenarios:
            raise BadInput([_("%(directory)s: no *.yaml or *.yml file in this folder.", directory=name)])
        for each in found:
            paths.setdefault(each.resolve(), each)
        for each in found_scenarios:
            scenario_paths.setdefault(each.resolve(), each)
    return sorted(paths.values()), sorted(scenario_paths.values())


def _playbooks_for(scenario_paths: list[Path], playbook_paths: list[Path]) -> dict[str, Any]:
    """The playbooks a scenario may name: those given, and those of the library folder it sits in."""
    folders = {path.resolve().parent.parent for path in scenario_paths}
    around = [p for folder in sorted(folders) if folder.is_dir() for p in library_files(folder)]
    return scenarios.library_playbooks(sorted(set(around) | set(playbook_paths)))


@sops_group.command("validate")
@click.argument("files", nargs=-1, type=click.Path())
def sops_validate(files: tuple[str, ...]) -> None:
    """Report every problem as file:line:column: message. Exit status 1 on any problem."""
    paths, scenario_paths = _library_paths(files)
    problems = [problem for path in paths for problem in validate_file(path).problems]
    known = _playbooks_for(scenario_paths, paths) if scenario_paths else {}
    problems += [problem for path in scenario_paths for problem in scenarios.validate_file(path, known).problems]
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len({p.file for p in problems})} file(s)", err=True)
        sys.exit(1)
    click.echo(f"{len(paths)} playbook(s) valid")
    if scenario_paths:
        click.echo(f"{len(scenario_paths)} exercise scenario(s) valid")


@sops_group.command("list")
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--markdown", is_flag=True, help="The README section: stages and targets per severity.")
@click.option(
    "--readme",
    type=click.Path(exists=True, dir_okay=False),
    help="Rewrite the generated section of this README in place.",
)
def sops_list(files: tuple[str, ...], markdown: bool, readme: str | None) -> None:
    """List the playbooks (the library shipped with crisis when no FILES are given)."""
    paths = _sop_paths(files)
    results = [validate_file(path) for path in paths]
    problems = [problem for result in results for problem in result.problems]
    if problems:
        for problem in problems:
            click.echo(str(problem))
        sys.exit(1)
    specs = [result.spec for result in results if result.spec is not None]
    if readme is not None:
        path = Path(readme)
        text = path.read_text(encoding="utf-8")
        try:
            updated = library_doc.replace_section(text, library_doc.library_markdown(specs))
        except ValueError as error:
            raise BadInput(
                [
                    _(
                        "%(file)s: no generated SOP section; add the lines %(begin)s and %(end)s where it goes.",
                        file=readme,
                        begin=library_doc.BEGIN,
                        end=library_doc.END,
                    )
                ]
            ) from error
        path.write_text(updated, encoding="utf-8")
        click.echo(f"{readme}: {len(specs)} playbook(s) listed")
    elif markdown:
        click.echo(library_doc.library_markdown(specs), nl=False)
    else:
        for spec in sorted(specs, key=lambda spec: spec.key):
            severities = ",".join(str(s) for s in spec.severities)
            click.echo(f"{spec.key:32} {severities:8} {len(spec.stages)} stages  {spec.title.en}")


@main.group("holidays")
def holidays_group() -> None:
    """Collective leave days (cuti bersama), skipped by SOP targets in working days (5wd)."""


@holidays_group.command("add")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("name")
@with_appcontext
def holidays_add(day: Any, name: str) -> None:
    """Enter DAY (YYYY-MM-DD) as collective leave named NAME, e.g. 2026-12-24 "Cuti bersama Natal"."""
    try:
        workdays.add_leave(session=db.session, day=day.date(), name=name)
    except ValidationFailed as error:
        db.session.rollback()
        raise BadInput([message for messages in error.errors.values() for message in messages]) from error
    db.session.commit()
    click.echo(_("%(day)s entered as collective leave: %(name)s", day=day.date().isoformat(), name=name.strip()))


@holidays_group.command("remove")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@with_appcontext
def holidays_remove(day: Any) -> None:
    """Remove DAY (YYYY-MM-DD) from the collective leave days."""
    if not workdays.remove_leave(session=db.session, day=day.date()):
        raise BadInput([_("%(day)s is not entered as collective leave.", day=day.date().isoformat())])
    db.session.commit()
    click.echo(_("%(day)s removed from the collective leave days.", day=day.date().isoformat()))


@holidays_group.command("list")
@click.option("--year", type=int, default=None, help="Only this year.")
@with_appcontext
def holidays_list(year: int | None) -> None:
    """The collective leave days entered, by date."""
    for leave in workdays.list_leave(session=db.session, year=year):
        click.echo(f"{leave.day.isoformat()}  {leave.name}")


@sops_group.command("load")
@click.argument("files", nargs=-1, type=click.Path())
@with_appcontext
def sops_load(files: tuple[str, ...]) -> None:
    """Publish a new version of each playbook whose content changed; nothing when any file is invalid.

    FILES are YAML files or folders of them (every *.yaml and *.yml inside, sorted by name).
    """
    paths, scenario_paths = _library_paths(files)
    try:
        results = playbooks.load_files(session=db.session, paths=paths) if paths else []
        loaded = scenarios.load_files(
            session=db.session, paths=scenario_paths, playbooks=playbooks.current_specs(session=db.session)
        )
    except (playbooks.PlaybookInvalid, scenarios.ScenarioInvalid) as error:
        db.session.rollback()
        for problem in error.problems:
            click.echo(str(problem))
        click.echo("nothing published: fix the problems above", err=True)
        sys.exit(1)
    db.session.commit()
    for result in results:
        state = "published" if result.created else "unchanged"
        click.echo(f"{result.version.playbook.key:32} v{result.version.number:<3} {state}")
    for scenario in loaded:
        state = "published" if scenario.created else "unchanged"
        click.echo(f"{'exercises/' + scenario.version.key:32} v{scenario.version.number:<3} {state}")


@sops_group.command("export")
@click.argument("key")
@click.option("--version", "number", type=int, help="Version number; the newest by default.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@with_appcontext
def sops_export(key: str, number: int | None, output: Any) -> None:
    """Write a published version back to YAML."""
    try:
        version = playbooks.get_version(session=db.session, key=key, number=number)
    except NotFound as error:
        raise click.ClickException(f"{key}: {error.message}") from error
    output.write(playbooks.export_yaml(version))


seed_group.add_command(seed_history_command)


@main.group("users")
def users_group() -> None:
    """Manage users from the command line."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--unit", "unit_code", required=True, help="Unit code, e.g. PUSAT")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--language", default="id", type=click.Choice(["id", "en"]))
@with_appcontext
def users_create(email: str, name: str, unit_code: str, role: str, password: str, language: str) -> None:
    """Create a user with a role in a unit (the first administrator, typically)."""
    unit = units.get_by_code(session=db.session, code=unit_code)
    if unit is None:
        raise BadInput.of_fields({"unit_id": [_("No unit has the code %(code)s.", code=unit_code)]})
    try:
        user = people.create_user(
            session=db.session,
            actor=None,
            email=email,
            name=name,
            password=password,
            language=language,
            unit_id=unit.id,
            role=role,
        )
    except ValidationFailed as error:
        db.session.rollback()
        raise BadInput.of_fields(error.errors) from error
    db.session.commit()
    click.echo(_("Created %(email)s, %(role)s of %(unit)s.", email=user.email, role=ROLE_LABELS[role], unit=unit.code))


@users_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Check every row and list the problems; write nothing.")
@click.option(
    "--invite",
    is_flag=True,
    help="Then invite everyone of the file who has no password yet: e-mailed, or the links printed.",
)
@with_appcontext
def users_import(file: Any, dry_run: bool, invite: bool) -> None:
    """Import people and their roles from a CSV: name, email, unit_code, role, phone, language."""
    report = people_import.run(session=db.session, actor=None, text=file.read(), dry_run=dry_run)
    if report.problems:
        db.session.rollback()
        raise BadInput(
            [
                _("Row %(row)d, %(column)s: %(reason)s", row=p.row, column=p.column or "-", reason=p.reason)
                for p in report.problems
            ]
        )
    summary = _(
        "%(created)d people new, %(updated)d updated, %(unchanged)d unchanged; "
        "%(added)d roles added, %(changed)d changed.",
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
        added=report.roles_added,
        changed=report.roles_changed,
    )
    if dry_run:
        db.session.rollback()
        click.echo(_("Check only, nothing written: %(summary)s", summary=summary))
        return
    db.session.commit()
    click.echo(_("Imported: %(summary)s", summary=summary))
    if invite:
        emails = sorted({*report.created, *report.updated, *report.unchanged})
        _invite(invitations.waiting(session=db.session, emails=emails))


def _invite(waiting: list[Any]) -> None:
    """Invite these people (commits) and say, for each, whether it was e-mailed or the link."""
    sent = invitations.invite(session=db.session, actor=None, people=waiting)
    db.session.commit()  # recorded before any link goes out
    sent = invitations.mail(session=db.session, actor=None, invitations=sent)
    db.session.commit()
    for invitation in sent:
        user = invitation.user
        if invitation.mailed:
            click.echo(_("%(email)s: invitation e-mailed", email=user.email))
        elif invitation.problem:
            click.echo(
                _(
                    "%(email)s: e-mail failed (%(problem)s); hand over %(url)s",
                    email=user.email,
                    problem=invitation.problem,
                    url=invitation.url,
                )
            )
        else:
            click.echo(f"{user.email}\t{invitation.url}")
    click.echo(
        _(
            "%(n)d people invited; each link works once, for %(days)d days.",
            n=len(sent),
            days=invitations.expires_days(),
        )
    )


@users_group.command("invite")
@click.option("--unit", "unit_code", help="Everyone without a password in this unit and the units below it.")
@click.option("--email", "emails", multiple=True, help="This person (repeatable).")
@with_appcontext
def users_invite(unit_code: str | None, emails: tuple[str, ...]) -> None:
    """Invite people who have no password yet (imported in bulk) to choose one: a signed link that works
    once, e-mailed when a mail server is set up (CRISIS_SMTP_HOST), otherwise printed to hand over."""
    if not unit_code and not emails:
        raise BadInput.of_fields({"unit_id": [_("Name a unit (--unit) or people (--email).")]})
    unit_ids = None
    if unit_code:
        unit = units.get_by_code(session=db.session, code=unit_code)
        if unit is None:
            raise BadInput.of_fields({"unit_id": [_("No unit has the code %(code)s.", code=unit_code)]})
        unit_ids = units.subtree_ids(session=db.session, root_ids={unit.id})
    wanted = [people.normalise_email(e) for e in emails] if emails else None
    if wanted:
        for email in wanted:
            user = people.get_by_email(session=db.session, email=email)
            if user is None:
                raise BadInput.of_fields({"email": [_("No user has the e-mail address %(email)s.", email=email)]})
            if not invitations.needs_password(user):
                raise BadInput.of_fields({"email": [_("%(email)s already has a password.", email=email)]})
    _invite(invitations.waiting(session=db.session, unit_ids=unit_ids, emails=wanted))


@main.group("roster")
def roster_group() -> None:
    """Plan duty rosters."""


@roster_group.command("rotate")
@click.option("--unit", "unit_code", required=True, help="Unit code, e.g. 33.74")
@click.option("--people", "emails", required=True, help="E-mail addresses in turn, separated by commas.")
@click.option("--from", "first_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--weeks", default=4, show_default=True, type=click.IntRange(1, duty.MAX_PATTERN_WEEKS))
@click.option("--pattern", default="day-night", show_default=True, type=click.Choice(list(duty.PATTERNS)))
@with_appcontext
def roster_rotate(unit_code: str, emails: str, first_day: Any, weeks: int, pattern: str) -> None:
    """Generate a weekly rotation's shifts in the unit's own zone (people in turn); clashes are refused."""
    unit = units.get_by_code(session=db.session, code=unit_code)
    if unit is None:
        raise BadInput.of_fields({"unit_id": [_("No unit has the code %(code)s.", code=unit_code)]})
    people_ids = []
    for email in [e.strip() for e in emails.split(",") if e.strip()]:
        user = people.get_by_email(session=db.session, email=email)
        if user is None:
            raise BadInput.of_fields({"people": [_("No user has the e-mail address %(email)s.", email=email)]})
        people_ids.append(user.id)
    try:
        added = duty.plan_rotation(
            session=db.session,
            actor=None,
            unit_id=unit.id,
            people=people_ids,
            first_day=first_day.date(),
            weeks=weeks,
            slots=duty.PATTERNS[pattern],
        )
    except ValidationFailed as error:
        db.session.rollback()
        raise BadInput.of_fields(error.errors) from error
    db.session.commit()
    click.echo(_("Rotation planned: %(count)d shifts added.", count=len(added)))


@main.group("tokens")
def tokens_group() -> None:
    """Personal API tokens."""


@tokens_group.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", required=True, help="What the token is for, e.g. monitoring")
@with_appcontext
def tokens_create(email: str, name: str) -> None:
    """Create an API token for a user: the token alone on stdout, shown only this once."""
    user = people.get_by_email(session=db.session, email=email)
    if user is None:
        raise BadInput.of_fields({"email": [_("No user has the e-mail address %(email)s.", email=email)]})
    if not user.active:
        raise BadInput.of_fields({"email": [_("%(email)s is disabled; enable the user first.", email=user.email)]})
    try:
        token, plaintext = people.create_token(session=db.session, user=user, name=name, on_command_line=True)
    except ValidationFailed as error:
        db.session.rollback()
        raise BadInput.of_fields(error.errors) from error
    db.session.commit()
    click.echo(
        _(
            "API token “%(name)s” of %(email)s created. It is shown only now and cannot be read again: "
            "keep it in a safe place. Use it as the header Authorization: Bearer <token>.",
            name=token.name,
            email=user.email,
        ),
        err=True,
    )
    click.echo(plaintext)


@main.group("units")
def units_group() -> None:
    """Inspect the unit tree and create units."""


@units_group.command("create")
@click.option("--code", required=True, help="e.g. PUSAT, JATENG, KOTA-SEMARANG")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in UnitKind]))
@click.option("--parent", "parent_code", help="Code of the unit above; none for the root (central) unit.")
@click.option(
    "--timezone", default="Asia/Jakarta", show_default=True, help="Asia/Jakarta, Asia/Makassar or Asia/Jayapura"
)
@click.option(
    "--kemendagri",
    "area_code",
    metavar="CODE",
    help="The Kemendagri code of the area it serves (33, 33.74) when --code is another: import-indonesia finds it.",
)
@with_appcontext
def units_create(
    code: str, name: str, kind: str, parent_code: str | None, timezone: str, area_code: str | None
) -> None:
    """Create a unit: the central unit of an empty install first, then the units below it."""
    parent_id = None
    if parent_code is not None:
        parent = units.get_by_code(session=db.session, code=parent_code)
        if parent is None:
            raise BadInput.of_fields({"parent_id": [_("No unit has the code %(code)s.", code=parent_code)]})
        parent_id = parent.id
    try:
        unit = units.create(
            session=db.session,
            actor=None,
            code=code,
            name=name,
            kind=kind,
            parent_id=parent_id,
            timezone=timezone,
            area_code=area_code,
        )
    except ValidationFailed as error:
        db.session.rollback()
        raise BadInput.of_fields(error.errors) from error
    db.session.commit()
    click.echo(
        _(
            "Created unit %(code)s (%(kind)s, %(zone)s): %(name)s.",
            code=unit.code,
            kind=units.KIND_LABELS[UnitKind(unit.kind)],
            zone=zone_label(unit.timezone),
            name=unit.name,
        )
    )


@units_group.command("list")
@with_appcontext
def units_list() -> None:
    """Print the unit tree."""
    for unit in units.order_as_tree(list(db.session.query(Unit))):
        click.echo(f"{'  ' * units.depth(unit)}{unit.code:14} {unit.kind:9} {zone_label(unit.timezone):4} {unit.name}")


@units_group.command("import-indonesia")
@click.option(
    "--only", "only", metavar="CODE", help="One province's Kemendagri code, e.g. 33: it and its regencies/cities."
)
@click.option(
    "--central", "central_code", metavar="CODE", help="The central unit to put provinces under (default: the root one)."
)
@with_appcontext
def units_import_indonesia(only: str | None, central_code: str | None) -> None:
    """Load every province and regency/city of Indonesia (Kemendagri codes, official names, WIB/WITA/WIT)."""
    try:
        central = indonesia.central_desk(session=db.session, code=central_code)
        result = indonesia.import_areas(session=db.session, central=central, only=only)
    except ValidationFailed as error:
        db.session.rollback()
        raise BadInput.of_fields(error.errors) from error
    db.session.commit()
    click.echo(
        _(
            "Indonesia under %(central)s: %(added)d units added, %(updated)d updated, %(unchanged)d unchanged.",
            central=central.code,
            added=len(result.added),
            updated=len(result.updated),
            unchanged=result.unchanged,
        )
    )
    if result.updated:
        click.echo(_("Updated: %(codes)s", codes=", ".join(result.updated)))
    if result.not_in_dataset:
        click.echo(
            _(
                "No longer in the dataset, kept as they are (nothing is deleted): %(codes)s",
                codes=", ".join(result.not_in_dataset),
            )
        )


def _print_counts(counts: dict[str, int]) -> None:
    for name, rows in counts.items():
        click.echo(f"  {name:32} {rows:>10,}")
    click.echo(f"{len(counts)} tables, {sum(counts.values()):,} rows")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(file: Path) -> None:
    """Write a consistent copy of the database to FILE (a new file, readable by its owner only).

    PostgreSQL: pg_dump custom format (restore with `crisis restore` or pg_restore). SQLite: a copy
    made with SQLite's online backup API. Prints the rows of every table, read in the same snapshot.
    """
    try:
        result = backup.backup(db.engine, file)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{result.engine} database {result.database} -> {file} ({file.stat().st_size:,} bytes)")
    _print_counts(result.counts)


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore_command(file: Path) -> None:
    """Restore a backup FILE into the configured database, which must be new and empty.

    Stop the web processes, workers and schedulers of that database first; run `crisis db upgrade`
    after. Prints the rows of every table restored: compare them with what `crisis backup` printed.
    """
    try:
        result = backup.restore(db.engine, file)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{file} -> {result.engine} database {result.database}")
    _print_counts(result.counts)
    click.echo("Next: crisis db upgrade")


@main.group("retention")
def retention_group() -> None:
    """Anonymise reporters' personal data in issues older than CRISIS_RETENTION_YEARS."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Show what would be anonymised; change nothing.")
@with_appcontext
def retention_run(dry_run: bool) -> None:
    """Replace the reporter's name and contact of every issue logged more than N years ago by a marker.

    Also runs once a day from the scheduler. Idempotent: a second run finds nothing to do.
    """
    try:
        years = retention.configured_years(current_app.config.get("RETENTION_YEARS"))
    except retention.RetentionSettingInvalid as error:
        raise click.ClickException(str(error)) from error
    if years is None:
        click.echo("CRISIS_RETENTION_YEARS is 0 or empty: retention is off, nothing was changed.")
        return
    now = clock.now()
    record = None
    if not dry_run:
        record_id = retention.start_record(db.session, trigger="cli", years=years, now=now)
        db.session.commit()
        record = db.session.get(retention.RetentionRun, record_id)
    result = retention.run(
        db.session,
        years=years,
        now=now,
        batch=int(current_app.config["RETENTION_BATCH"]),
        dry_run=dry_run,
        record=record,
    )
    click.echo(
        f"Retention {years} years: reporters' personal data in issues logged before "
        f"{result.cutoff:%Y-%m-%d %H:%M} UTC{' (dry run: nothing changed)' if dry_run else ''}"
    )
    codes = {unit_id: code for unit_id, code in db.session.execute(select(Unit.id, Unit.code))}
    for item in result.anonymised:
        events = f"; {item.events_redacted} timeline event(s)" if item.events_redacted else ""
        click.echo(
            f"  #{item.issue_id:<8} {codes.get(item.unit_id, '?'):14} logged {item.created_at:%Y-%m-%d}  "
            f"{', '.join(item.fields) or '-'}{events}"
        )
    verb = "would be anonymised" if dry_run else "anonymised"
    click.echo(
        f"{len(result.anonymised)} issue(s) {verb}, {result.events_redacted} timeline event(s) and "
        f"{result.answers_redacted} stored API answer(s) redacted"
    )
