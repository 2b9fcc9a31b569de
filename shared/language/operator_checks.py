"""Static checks of operator pipes: template reads vs inputs, output rules, model references. Pure."""

from __future__ import annotations

from shared.language.check_context import CheckContext
from shared.language.concept_compat import DYNAMIC, IMAGE, TEXT, satisfies
from shared.language.issues import Category, ErrorType
from shared.language.library import PipeEntry
from shared.language.model_checks import check_models
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import (
    PipeCompose,
    PipeDocGen,
    PipeExtract,
    PipeImgGen,
    PipeJudge,
    PipeLLM,
    PipeSearch,
    PipeStructure,
)
from shared.language.pipe_templates import RenderedTemplate, rendered_templates
from shared.language.sigils import find_inline_at_roots
from shared.language.template_analysis import (
    TemplateAnalysis,
    TemplateSyntaxFault,
    analyze_template,
)

_HTML = f"{NATIVE_DOMAIN}.Html"
_DOCUMENT = f"{NATIVE_DOMAIN}.Document"
_PAGE = f"{NATIVE_DOMAIN}.Page"
_SEARCH_RESULT = f"{NATIVE_DOMAIN}.SearchResult"
_JUDGE_OUTPUTS = {"yes_no": "YesNo", "choice": "Choice", "rating": "Rating"}


def check_operator(context: CheckContext, entry: PipeEntry) -> None:
    """Every static rule of one operator pipe."""
    blueprint = entry.blueprint
    check_models(context, entry)
    templates, extra_roots = rendered_templates(blueprint)
    if templates or extra_roots or isinstance(blueprint, PipeLLM | PipeCompose):
        _check_template_reads(
            context, entry, templates, extra_roots, exact=not isinstance(blueprint, PipeDocGen)
        )
    _check_output_rules(context, entry)


def _check_template_reads(
    context: CheckContext,
    entry: PipeEntry,
    templates: list[RenderedTemplate],
    extra_roots: set[str],
    *,
    exact: bool,
) -> None:
    declared = context.contract(entry).inputs
    roots: set[str] = set(extra_roots)
    for template in templates:
        analysis = _analyze(context, entry, template)
        if analysis is None:
            return
        roots |= analysis.roots
        for path in analysis.private_reads:
            context.report(
                entry,
                ErrorType.TEMPLATE_PRIVATE_NAME,
                f"Pipe '{entry.code}' reads the private name '{path}' in its {template.field}; only "
                "_stuff_name, _content_class, _concept_code and _stuff_code are readable.",
                template.field,
            )
        for name in sorted(analysis.unguarded_roots):
            if name in declared and declared[name][0].is_optional:
                context.report(
                    entry,
                    ErrorType.OPTIONAL_INPUT_UNGUARDED,
                    f"Pipe '{entry.code}' reads the optional input '{name}' outside a guard in its "
                    f"{template.field}; use @?{name} or {{% if {name} %}}.",
                    template.field,
                    variables=(name,),
                )
        for name in sorted(find_inline_at_roots(template.source) & set(declared)):
            context.report(
                entry,
                None,
                f"Pipe '{entry.code}': '@{name}' must appear alone on its own line in its {template.field}.",
                template.field,
                category=Category.BLUEPRINT,
            )
    roots = {name for name in roots if not name.startswith("_") and name != "place_holder"}
    missing = sorted(roots - set(declared))
    if missing:
        context.report(
            entry,
            ErrorType.MISSING_INPUT_VARIABLE,
            f"Pipe '{entry.code}' reads {_names(missing)}, which its inputs do not declare.",
            "inputs",
            variables=tuple(missing),
        )
    unused = sorted(set(declared) - roots)
    if exact and unused:
        context.report(
            entry,
            ErrorType.EXTRANEOUS_INPUT_VARIABLE,
            f"Pipe '{entry.code}' declares {_names(unused)} as input but never reads it.",
            "inputs",
            variables=tuple(unused),
        )


def _analyze(context: CheckContext, entry: PipeEntry, template: RenderedTemplate) -> TemplateAnalysis | None:
    try:
        return analyze_template(template.source, template.category)
    except TemplateSyntaxFault as fault:
        context.report(
            entry,
            None,
            f"Pipe '{entry.code}': its {template.field} is not a valid template: {fault.message}",
            template.field,
            category=Category.BLUEPRINT,
        )
        return None


def _names(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _check_output_rules(context: CheckContext, entry: PipeEntry) -> None:
    contract = context.contract(entry)
    spec, output = contract.output
    if output is None:
        return
    library = context.library
    blueprint = entry.blueprint

    def wrong_concept(why: str) -> None:
        context.report(entry, ErrorType.INADEQUATE_OUTPUT_CONCEPT, f"Pipe '{entry.code}': {why}", "output")

    def wrong_multiplicity(why: str) -> None:
        context.report(
            entry, ErrorType.INADEQUATE_OUTPUT_MULTIPLICITY, f"Pipe '{entry.code}': {why}", "output"
        )

    if (
        isinstance(blueprint, PipeLLM)
        and output != DYNAMIC
        and satisfies(library, output, IMAGE, strict=True)
    ):
        message = f"Pipe '{entry.code}': a PipeLLM writes text or structures, never an image ('{spec.ref}')."
        context.report(entry, ErrorType.LLM_OUTPUT_CANNOT_BE_IMAGE, message, "output")
    elif isinstance(blueprint, PipeImgGen) and not satisfies(library, output, IMAGE, strict=True):
        wrong_concept(f"a PipeImgGen produces an Image, and '{spec.ref}' is not one.")
    elif isinstance(blueprint, PipeCompose):
        if spec.is_list:
            wrong_multiplicity("a PipeCompose produces a single value.")
        elif blueprint.template is not None and not (
            satisfies(library, output, TEXT, strict=True) or satisfies(library, output, _HTML, strict=True)
        ):
            wrong_concept(f"a PipeCompose template produces Text or Html, and '{spec.ref}' is neither.")
    elif isinstance(blueprint, PipeSearch) and not satisfies(library, output, _SEARCH_RESULT, strict=True):
        wrong_concept(f"a PipeSearch produces a SearchResult, and '{spec.ref}' is not one.")
    elif isinstance(blueprint, PipeDocGen) and not satisfies(library, output, _DOCUMENT, strict=True):
        wrong_concept(f"a PipeDocGen produces a Document, and '{spec.ref}' is not one.")
    elif isinstance(blueprint, PipeExtract):
        _check_extract(context, entry)
    elif isinstance(blueprint, PipeStructure):
        _check_structure(context, entry)
    elif isinstance(blueprint, PipeJudge):
        _check_judge(context, entry, blueprint)


def _check_extract(context: CheckContext, entry: PipeEntry) -> None:
    contract = context.contract(entry)
    spec, output = contract.output
    if output != _PAGE or spec.multiplicity.value != "variable":
        message = f"Pipe '{entry.code}': a PipeExtract produces exactly 'Page[]', not '{spec.render()}'."
        context.report(entry, ErrorType.INADEQUATE_OUTPUT_CONCEPT, message, "output")
    usable = [
        name
        for name, (input_spec, ref) in contract.inputs.items()
        if ref is None
        or (
            not input_spec.is_list
            and any(satisfies(context.library, ref, want, strict=True) for want in (_DOCUMENT, IMAGE))
        )
    ]
    if len(contract.inputs) != 1 or not usable:
        message = f"Pipe '{entry.code}': a PipeExtract reads exactly one Document or Image input."
        context.report(entry, ErrorType.INPUT_STUFF_SPEC_MISMATCH, message, "inputs")


def _check_structure(context: CheckContext, entry: PipeEntry) -> None:
    contract = context.contract(entry)
    for name, (spec, ref) in contract.inputs.items():
        if ref is not None and (spec.is_list or not satisfies(context.library, ref, TEXT, strict=True)):
            message = (
                f"Pipe '{entry.code}': a PipeStructure turns one text into a structure, "
                f"and its input '{name}' is '{spec.render()}'."
            )
            context.report(entry, ErrorType.INPUT_STUFF_SPEC_MISMATCH, message, f"inputs.{name}")
    if len(contract.inputs) != 1:
        message = f"Pipe '{entry.code}': a PipeStructure reads exactly one text input."
        context.report(entry, ErrorType.INPUT_STUFF_SPEC_MISMATCH, message, "inputs")
    _, output = contract.output
    if output is not None and satisfies(context.library, output, TEXT, strict=True):
        message = f"Pipe '{entry.code}': a PipeStructure produces a structured concept, not text."
        context.report(entry, ErrorType.INADEQUATE_OUTPUT_CONCEPT, message, "output")


def _check_judge(context: CheckContext, entry: PipeEntry, blueprint: PipeJudge) -> None:
    spec, output = context.contract(entry).output
    if output is None:
        return
    if spec.is_list:
        message = f"Pipe '{entry.code}': a PipeJudge gives one verdict, not '{spec.render()}'."
        context.report(entry, ErrorType.INADEQUATE_OUTPUT_MULTIPLICITY, message, "output")
        return
    if blueprint.questions is not None:
        fields = context.library.structure_of(output) or {}
        missing = sorted(set(blueprint.questions) - set(fields))
        if missing:
            message = f"Pipe '{entry.code}': its output '{spec.ref}' has no field for the questions {_names(missing)}."
            context.report(entry, ErrorType.INADEQUATE_OUTPUT_CONCEPT, message, "output")
        return
    kind = (
        "choice" if blueprint.options is not None else "rating" if blueprint.levels is not None else "yes_no"
    )
    wanted = f"{NATIVE_DOMAIN}.{_JUDGE_OUTPUTS[kind]}"
    if not satisfies(context.library, output, wanted, strict=True):
        message = (
            f"Pipe '{entry.code}': this question's verdict is a {_JUDGE_OUTPUTS[kind]}, not '{spec.ref}'."
        )
        context.report(entry, ErrorType.INADEQUATE_OUTPUT_CONCEPT, message, "output")
