"""Hypothesis strategies for valid MTHDS bundles built from small pieces, with caller inputs that fit.

A bundle holds one domain, 0 to 2 structured concepts and an entry PipeSequence `main` over 1 to 3
inputs whose 1 to 5 steps come from a small menu (compose, construct, LLM, binding, inline batch,
PipeBatch, PipeParallel, PipeCondition). The generator keeps a model of what each name may hold
(concept, list or not, possibly absent) so that every bundle is valid by construction: operators read
exactly the inputs they declare, controllers declare exactly what their children read, and an output
that may resolve absent is declared `X?` (mthds.md §2, §4.4).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import strategies as st

FieldKind = Literal["text", "number", "integer", "boolean", "text_list", "text_concept"]
StepKind = Literal["compose", "construct", "llm", "binding", "inline_batch", "batch", "parallel", "condition"]

WORDS = ("go", "stop", "north", "amber light", "Quai 4", "écluse")  # never empty, never "None"
DOMAINS = ("probe", "harbour.logs", "kitchen")
CONCEPT_CODES = ("Card", "Crate", "Voyage")
FIELD_NAMES = ("title", "note", "size", "weight", "urgent", "tags", "label")
NATIVES = frozenset({"Text", "Number", "YesNo", "Composite"})
_DRAWN_KINDS: tuple[FieldKind, ...] = ("text", "number", "integer", "boolean", "text_list")
_FIELD_TOML: Mapping[FieldKind, str] = {
    "text": 'type = "text"',
    "number": 'type = "number"',
    "integer": 'type = "integer"',
    "boolean": 'type = "boolean"',
    "text_list": 'type = "list", item_type = "text"',
    "text_concept": 'type = "concept", concept_ref = "Text"',
}
_LITERALS: Mapping[FieldKind, str] = {
    "text": '"a literal"',
    "number": "2.5",
    "integer": "7",
    "boolean": "true",
    "text_list": '["x", "y"]',
}  # no `text_concept`: only the PipeParallel outputs hold such fields, and nothing constructs them
_BOUND_CONCEPT: Mapping[FieldKind, str] = {
    "text": "Text",
    "number": "Number",
    "integer": "Number",
    "boolean": "YesNo",
    "text_list": "Text",
    "text_concept": "Text",
}
_MEMBER = {"Text": "text", "Number": "number", "YesNo": "yes_no"}


def _lit(value: Any) -> str:
    """A TOML literal: JSON strings, numbers, booleans and arrays are valid TOML."""
    return json.dumps(value, ensure_ascii=False)


def _inline(entries: Mapping[str, str]) -> str:
    return "{ " + ", ".join(f"{key} = {value}" for key, value in entries.items()) + " }"


def _array(items: Sequence[str]) -> str:
    return "[\n  " + ",\n  ".join(items) + ",\n]"


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    kind: FieldKind
    required: bool

    def toml(self) -> str:
        required = ", required = true" if self.required else ""
        return f'{self.name} = {{ {_FIELD_TOML[self.kind]}, description = "{self.name}"{required} }}'


@dataclass(frozen=True, slots=True)
class ConceptDef:
    code: str
    fields: tuple[FieldDef, ...]

    def toml(self) -> str:
        lines = [f"[concept.{self.code}]", f'description = "A {self.code}"', ""]
        lines += [f"[concept.{self.code}.structure]", *(field.toml() for field in self.fields), ""]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Held:
    """What the entry sequence's memory may hold under a name, as far as the generator knows."""

    concept: str  # as the bundle writes it: a native code or a concept code of the domain
    is_list: bool = False
    maybe_absent: bool = False
    fields: tuple[FieldDef, ...] = ()

    def spec(self, *, optional: bool = False) -> str:
        return self.concept + ("[]" if self.is_list else "") + ("?" if optional else "")


@dataclass(frozen=True, slots=True)
class GeneratedBundle:
    """A bundle text, its entry pipe, caller inputs of the right shapes and the declared output."""

    text: str
    entry_ref: str
    inputs: dict[str, Any]
    output_concept: str  # the resolved ref (`native.Text`, `probe.Card`)
    output_is_list: bool
    output_optional: bool
    required_output_text: str | None  # the same bundle with its optional output declared required
    step_kinds: tuple[StepKind, ...]


@dataclass
class _Reads:
    """The inputs an operator declares for the names it reads, and the template pieces reading them."""

    inputs: dict[str, str] = field(default_factory=dict[str, str])
    pieces: list[str] = field(default_factory=list[str])
    skipped: bool = False  # a plain input may be absent, so the operator may be skipped

    def read(self, name: str, spec: str, piece: str, *, maybe_absent: bool) -> None:
        self.inputs[name] = spec
        self.pieces.append(piece)
        self.skipped |= maybe_absent and not spec.endswith("?")


def _optional(spec: str) -> bool:
    return spec.endswith("?")


class _Builder:
    """Draws the steps of one entry sequence and the pipes they call, modelling the memory as it goes."""

    def __init__(self, draw: st.DrawFn, concepts: list[ConceptDef], *, llm: bool) -> None:
        self.draw = draw
        self.concepts = concepts
        self.llm = llm
        self.available: dict[str, Held] = {}
        self.read: set[str] = set()
        self.pipes: list[str] = []
        self.extra_concepts: list[ConceptDef] = []
        self.steps: list[str] = []
        self.kinds: list[StepKind] = []
        self.last = ("", Held("Text"))
        self.menu: dict[StepKind, Callable[[int, str], None]] = {
            "compose": self._compose,
            "construct": self._construct,
            "llm": self._llm,
            "binding": self._binding,
            "inline_batch": self._inline_batch,
            "batch": self._batch,
            "parallel": self._parallel,
            "condition": self._condition,
        }

    # -- reading names in templates -------------------------------------------------------------

    def names(self, *, min_size: int = 1, lists: bool = True, exclude: Sequence[str] = ()) -> list[str]:
        pool = sorted(
            name
            for name, held in self.available.items()
            if (lists or not held.is_list) and name not in exclude
        )
        if not pool:
            return []
        chosen = self.draw(st.lists(st.sampled_from(pool), min_size=min_size, max_size=3, unique=True))
        latest = self.last[0]
        if latest in pool and latest not in chosen and self.draw(st.booleans()):
            chosen.append(latest)  # chains of steps carry absences (and values) on to the output
        return chosen

    def reads(self, names: Sequence[str], *, guards: Mapping[str, bool] | None = None) -> _Reads:
        """Read each name; a single one that may be absent is read guarded (declared `X?`) or plain."""
        reads = _Reads()
        for name in names:
            held = self.available[name]
            if guards is not None and name in guards:
                guarded = guards[name]
            else:
                guarded = held.maybe_absent and not held.is_list and self.draw(st.booleans())
            piece = self.guarded(name, held) if guarded else self.render(name, held)
            reads.read(name, held.spec(optional=guarded), piece, maybe_absent=held.maybe_absent)
        return reads

    def render(self, name: str, held: Held) -> str:
        options = [f"${name}"]
        if held.is_list:
            leaf = f"each.{self.draw(st.sampled_from(held.fields)).name}" if held.fields else "each"
            options += [
                f"{{% for each in {name} %}}[{{{{ {leaf} }}}}]{{% endfor %}}",
                f"{{{{ {name}|length }}}}",
            ]
        elif held.fields:
            options.append(f"{{{{ {name}.{self.draw(st.sampled_from(held.fields)).name} }}}}")
        elif held.concept in _MEMBER:
            options += [f"{{{{ {name}.{_MEMBER[held.concept]} }}}}", f"\n@{name}\n"]
        return self.draw(st.sampled_from(options))

    def guarded(self, name: str, held: Held) -> str:
        inner = self.render(name, held)  # an `@name` line keeps its own line inside the guard
        return self.draw(st.sampled_from([f"{{% if {name} %}}{inner}{{% endif %}}", f"\n@?{name}\n"]))

    # -- emitting pipes and steps ---------------------------------------------------------------

    def pipe(
        self, code: str, kind: str, inputs: Mapping[str, str], output: str, body: Mapping[str, str]
    ) -> None:
        lines = [f"[pipe.{code}]", f'type = "{kind}"', f'description = "{code}"']
        if inputs:
            lines.append(f"inputs = {_inline({name: _lit(spec) for name, spec in inputs.items()})}")
        lines.append(f"output = {_lit(output)}")
        lines += [f"{key} = {value}" for key, value in body.items()]
        self.pipes.append("\n".join(lines) + "\n")

    def compose(self, code: str, reads: _Reads, prefix: str) -> None:
        template = prefix + " | ".join(reads.pieces)
        self.pipe(code, "PipeCompose", reads.inputs, "Text", {"template": _lit(template)})

    def add_step(
        self, kind: StepKind, entries: dict[str, str], result: str, held: Held, reads: Sequence[str]
    ) -> None:
        entries["result"] = _lit(result)
        self.steps.append(_inline(entries))
        self.kinds.append(kind)
        self.read |= set(reads)
        self.available[result] = held
        self.last = (result, held)

    def step(self, index: int, *, field_first: bool = False) -> None:
        if field_first:  # start from a field that may be absent: absences then flow downstream
            self._binding(index, f"r{index}", copy=False)
            return
        kinds: list[StepKind] = ["compose", "binding", "parallel"]
        if self.concepts:
            kinds.append("construct")
        if self.llm:
            kinds.append("llm")
        if self._lists():
            kinds.append("inline_batch")
            kinds.append("batch")
        if self._subjects():
            kinds.append("condition")
        self.menu[self.draw(st.sampled_from(kinds))](index, f"r{index}")

    def _lists(self) -> list[str]:
        return sorted(name for name, held in self.available.items() if held.is_list)

    def _subjects(self) -> list[str]:
        return sorted(
            name for name, held in self.available.items() if held.concept == "Text" and not held.is_list
        )

    # -- the menu -------------------------------------------------------------------------------

    def _compose(self, index: int, result: str) -> None:
        code = f"p{index}_compose"
        reads = self.reads(self.names())
        self.compose(code, reads, "Note: ")
        held = Held("Text", maybe_absent=reads.skipped)
        self.add_step("compose", {"pipe": _lit(code)}, result, held, list(reads.inputs))

    def _construct(self, index: int, result: str) -> None:
        code = f"p{index}_construct"
        concept = self.draw(st.sampled_from(self.concepts))
        reads = _Reads()
        chosen = [f for f in concept.fields if f.required or self.draw(st.booleans())] or [concept.fields[0]]
        table = [f"{f.name} = {self._construct_value(f, reads)}" for f in chosen]
        self.pipe(code, "PipeCompose", reads.inputs, concept.code, {})
        self.pipes[-1] += f"\n[pipe.{code}.construct]\n" + "\n".join(table) + "\n"
        held = Held(concept.code, maybe_absent=reads.skipped, fields=concept.fields)
        self.add_step("construct", {"pipe": _lit(code)}, result, held, list(reads.inputs))

    def _construct_value(self, field_def: FieldDef, reads: _Reads) -> str:
        """A literal, or for a text or number field `{ from = name }` / `{ template = ... }`."""
        wanted = {"text": "Text", "number": "Number"}.get(field_def.kind)
        sources = sorted(
            name
            for name, held in self.available.items()
            if wanted is not None and held.concept == wanted and not held.is_list
        )
        modes = ["literal", "from", "template"] if field_def.kind == "text" else ["literal", "from"]
        mode = self.draw(st.sampled_from(modes)) if sources else "literal"
        if mode == "literal":
            return _LITERALS[field_def.kind]
        name = self.draw(st.sampled_from(sources))
        held = self.available[name]
        reads.read(name, held.spec(), "", maybe_absent=held.maybe_absent)
        value = {"from": _lit(name)} if mode == "from" else {"template": _lit(f"about ${name}")}
        return _inline(value)

    def _llm(self, index: int, result: str) -> None:
        code = f"p{index}_llm"
        reads = self.reads(self.names())
        outputs = [Held("Text"), Held("Number"), Held("Text", is_list=True)]
        outputs += [
            Held(c.code, is_list, fields=c.fields) for c in self.concepts for is_list in (False, True)
        ]
        made = self.draw(st.sampled_from(outputs))
        prompt = "Consider:\n" + "\n".join(reads.pieces)
        self.pipe(code, "PipeLLM", reads.inputs, made.spec(), {"prompt": _lit(prompt)})
        step = {"pipe": _lit(code)}
        if made == Held("Text") and self.draw(st.booleans()):
            step["multiple_output"] = "true"
            made = Held("Text", is_list=True)
        held = Held(made.concept, made.is_list, reads.skipped, made.fields)
        self.add_step("llm", step, result, held, list(reads.inputs))

    def _binding(self, index: int, result: str, *, copy: bool = True) -> None:
        del index
        roots = sorted(name for name, held in self.available.items() if held.fields)
        if not roots or (copy and self.draw(st.integers(0, 3)) == 0):
            name = self.draw(st.sampled_from(sorted(self.available)))  # a whole copy: `from = "name"`
            self.add_step("binding", {"from": _lit(name)}, result, self.available[name], [name])
            return
        name = self.draw(st.sampled_from(roots))
        root = self.available[name]
        optional = [f for f in root.fields if not f.required]
        leaf = self.draw(st.sampled_from(optional if optional and self.draw(st.booleans()) else root.fields))
        is_list = root.is_list or leaf.kind == "text_list"
        # A single path may reach nothing; the validator counts an optional list field as such too.
        absent = root.maybe_absent or (not root.is_list and not leaf.required)
        held = Held(_BOUND_CONCEPT[leaf.kind], is_list, absent)
        self.add_step("binding", {"from": _lit(f"{name}.{leaf.name}")}, result, held, [name])

    def _each(self, index: int, item: Held, item_name: str) -> _Reads:
        """The compose run once per item: it reads the item and maybe other single names."""
        others = self.names(min_size=0, lists=False)
        self.available[item_name] = Held(item.concept, fields=item.fields)
        reads = self.reads([item_name, *others])
        del self.available[item_name]
        self.compose(f"p{index}_each", reads, "Item: ")
        return reads

    def _inline_batch(self, index: int, result: str) -> None:
        name = self.draw(st.sampled_from(self._lists()))
        listed = self.available[name]
        item_name = f"one{index}"
        reads = self._each(index, listed, item_name)
        others = [other for other in reads.inputs if other != item_name]
        step = {
            "pipe": _lit(f"p{index}_each"),
            "batch_over": _lit(name),
            "batch_as": _lit(item_name),
        }
        held = Held("Text", is_list=True, maybe_absent=listed.maybe_absent or reads.skipped)
        self.add_step("inline_batch", step, result, held, [name, *others])

    def _batch(self, index: int, result: str) -> None:
        code = f"p{index}_batch"
        name = self.draw(st.sampled_from(self._lists()))
        listed = self.available[name]
        item_name = f"one{index}"
        reads = self._each(index, listed, item_name)
        inputs = {name: listed.spec(), **{k: v for k, v in reads.inputs.items() if k != item_name}}
        body = {
            "branch_pipe_code": _lit(f"p{index}_each"),
            "input_list_name": _lit(name),
            "input_item_name": _lit(item_name),
        }
        self.pipe(code, "PipeBatch", inputs, "Text[]", body)
        gate_skip = any(self.available[n].maybe_absent and not _optional(s) for n, s in inputs.items())
        held = Held("Text", is_list=True, maybe_absent=gate_skip or reads.skipped)
        self.add_step("batch", {"pipe": _lit(code)}, result, held, list(inputs))

    def _parallel(self, index: int, result: str) -> None:
        code = f"p{index}_par"
        branches: dict[str, _Reads] = {}
        for branch in "ab":
            branch_code = f"p{index}_{branch}"
            reads = self.reads(self.names(min_size=0))
            if self.llm and self.draw(st.booleans()):
                prompt = "Branch:\n" + "\n".join(reads.pieces)
                self.pipe(branch_code, "PipeLLM", reads.inputs, "Text", {"prompt": _lit(prompt)})
            else:
                self.compose(branch_code, reads, "Branch: ")
            branches[f"r{index}{branch}"] = reads
        inputs: dict[str, str] = {}
        for reads in branches.values():
            for name, spec in reads.inputs.items():
                held = self.available[name]
                optional = _optional(spec) or _optional(inputs.get(name, ""))
                # A name a branch reads plain may be declared `X?` here: the branch is skipped, not the parallel.
                optional |= held.maybe_absent and not held.is_list and self.draw(st.booleans())
                inputs[name] = held.spec(optional=optional)
        gate_skip = any(self.available[n].maybe_absent and not _optional(s) for n, s in inputs.items())
        skipped = {
            result_name: any(
                self.available[n].maybe_absent and not _optional(s) and _optional(inputs[n])
                for n, s in reads.inputs.items()
            )
            for result_name, reads in branches.items()
        }
        output, fields = "Composite", tuple[FieldDef, ...]()
        if self.draw(st.booleans()):
            output = f"Pair{index}"
            fields = tuple(FieldDef(n, "text_concept", not absent) for n, absent in skipped.items())
            self.extra_concepts.append(ConceptDef(output, fields))
        add_each = not gate_skip and self.draw(st.booleans())
        steps = [_inline({"pipe": _lit(f"p{index}_{b}"), "result": _lit(f"r{index}{b}")}) for b in "ab"]
        body = {"branches": _array(steps)}
        if add_each:
            body["add_each_output"] = "true"
        self.pipe(code, "PipeParallel", inputs, output, body)
        held = Held(output, maybe_absent=gate_skip, fields=fields)
        self.add_step("parallel", {"pipe": _lit(code)}, result, held, list(inputs))
        if add_each:
            for name, absent in skipped.items():
                self.available[name] = Held("Text", maybe_absent=absent)

    def _condition(self, index: int, result: str) -> None:
        code, yes, no = f"p{index}_route", f"p{index}_yes", f"p{index}_no"
        subject = self.draw(st.sampled_from(self._subjects()))
        others = self.names(min_size=0, exclude=[subject])
        guards: dict[str, bool] = {subject: False}
        gaps: set[str] = set()  # read plain by an outcome pipe, declared `X?` by the condition
        for name in others:
            held = self.available[name]
            if held.maybe_absent and not held.is_list:
                mode = self.draw(st.sampled_from(["plain", "guarded", "gap"]))
                guards[name] = mode == "guarded"
                if mode == "gap":
                    gaps.add(name)
        split = self.draw(st.integers(0, len(others)))
        yes_names = [subject, *others[:split]] if self.draw(st.booleans()) else others[:split]
        yes_reads = self.reads(yes_names, guards=guards)
        no_reads = self.reads(others[split:], guards=guards)
        self.compose(yes, yes_reads, "Yes: ")
        self.compose(no, no_reads, "No: ")
        if subject.startswith("t") and self.draw(st.booleans()):  # an entry Text input: a known word
            expression = f"{subject}.text"
            first, second = self.draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=2, unique=True))
            outcomes = {first: yes, second: self.draw(st.sampled_from([no, "continue"])), "broken": "fail"}
            default = self.draw(st.sampled_from([no, "continue"]))
        else:
            tests = [f'{subject}.text == "go"', f"{subject}.text|length > 3", f'"o" in {subject}.text']
            expression = self.draw(st.sampled_from(tests))
            outcomes = {"True": yes, "False": self.draw(st.sampled_from([no, "continue"]))}
            default = self.draw(st.sampled_from(["fail", "continue", no]))  # both booleans are mapped
        targets = {*outcomes.values(), default}
        inputs = {subject: self.available[subject].spec()}
        for reads, target in ((yes_reads, yes), (no_reads, no)):
            if target in targets:
                for name, spec in reads.inputs.items():
                    inputs[name] = self.available[name].spec(optional=_optional(spec) or name in gaps)
        gate_skip = any(self.available[n].maybe_absent and not _optional(s) for n, s in inputs.items())
        # An outcome pipe reading plain a name the condition declares `X?` may be skipped: `X?` output.
        optional = "continue" in targets or bool(gaps & set(inputs)) or self.draw(st.booleans())
        body = {
            "expression": _lit(expression),
            "outcomes": _inline({_lit(key): _lit(value) for key, value in outcomes.items()}),
            "default_outcome": _lit(default),
        }
        if self.draw(st.booleans()):
            body["add_alias_from_expression_to"] = _lit(subject)
        self.pipe(code, "PipeCondition", inputs, "Text?" if optional else "Text", body)
        held = Held("Text", maybe_absent=optional or gate_skip or bool(gaps & set(inputs)))
        self.add_step("condition", {"pipe": _lit(code)}, result, held, list(inputs))


@st.composite
def concept_defs(draw: st.DrawFn) -> list[ConceptDef]:
    """0 to 2 structured concepts of 1 to 4 fields (text, number, integer, boolean, list of text)."""
    count = draw(st.sampled_from([0, 1, 1, 2, 2]))  # most bundles get structured inputs to bind from
    codes = draw(st.lists(st.sampled_from(CONCEPT_CODES), min_size=count, max_size=count, unique=True))
    concepts: list[ConceptDef] = []
    for code in codes:
        names = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=4, unique=True))
        kinds: list[FieldKind] = [draw(st.sampled_from(_DRAWN_KINDS)) for _ in names]
        fields = [FieldDef(name, kind, draw(st.booleans())) for name, kind in zip(names, kinds, strict=True)]
        concepts.append(ConceptDef(code, tuple(fields)))
    return concepts


def _field_values(kind: FieldKind) -> st.SearchStrategy[Any]:
    if kind == "text":
        return st.sampled_from(WORDS)
    if kind == "number":
        return st.one_of(st.integers(-50, 50), st.floats(-1e3, 1e3, allow_nan=False))
    if kind == "integer":
        return st.integers(0, 99)
    if kind == "boolean":
        return st.booleans()
    return st.lists(st.sampled_from(WORDS), max_size=3)


def _caller_value(draw: st.DrawFn, held: Held) -> Any:
    """A bare caller value (mthds.md §4.3): a word, a list of words, or an object of the concept."""
    if held.is_list:
        return draw(st.lists(st.sampled_from(WORDS), max_size=3))
    if not held.fields:
        return draw(st.sampled_from(WORDS))
    return {
        f.name: draw(_field_values(f.kind))
        for f in held.fields
        if f.required or draw(st.integers(0, 2)) == 0  # optional fields mostly omitted: absences
    }


@st.composite
def bundles(draw: st.DrawFn, *, llm: bool = True) -> GeneratedBundle:
    """A valid bundle whose entry `main` is a PipeSequence of 1 to 5 steps, with caller inputs for it.

    `llm=False` keeps to PipeCompose and controllers, so the bundle runs for real without an executor.
    """
    domain = draw(st.sampled_from(DOMAINS))
    concepts = draw(concept_defs())
    builder = _Builder(draw, concepts, llm=llm)
    candidates: dict[str, Held] = {}
    letters = draw(
        st.lists(st.sampled_from(["t", "s", "s", "l"] if concepts else ["t", "l"]), min_size=1, max_size=3)
    )
    for position, letter in enumerate(letters):
        if letter == "s":
            concept = draw(st.sampled_from(concepts))
            candidates[f"s{position}"] = Held(concept.code, fields=concept.fields)
        else:
            candidates[f"{letter}{position}"] = Held("Text", is_list=letter == "l")
    builder.available.update(candidates)
    count = draw(st.sampled_from(range(1, 6)))
    for index in range(count):
        builder.step(index, field_first=index == 0 and "s" in letters and draw(st.booleans()))
    last_name, final = builder.last
    if final.is_list and final.maybe_absent:  # `X[]?` does not exist: end on an optional Text instead
        code = f"p{count}_compose"
        reads = builder.reads([last_name])
        builder.compose(code, reads, "Last: ")
        final = Held("Text", maybe_absent=True)
        builder.add_step("compose", {"pipe": _lit(code)}, f"r{count}", final, list(reads.inputs))
    optional = not final.is_list and (final.maybe_absent or draw(st.booleans()))
    declared = {name: held for name, held in candidates.items() if name in builder.read}
    header = [f'domain = "{domain}"', 'description = "Generated"', 'main_pipe = "main"', ""]
    concept_tables = [c.toml() for c in [*concepts, *builder.extra_concepts]]

    def text_with(output: str) -> str:
        main = [
            "[pipe.main]",
            'type = "PipeSequence"',
            'description = "The entry sequence"',
            f"inputs = {_inline({name: _lit(held.spec()) for name, held in declared.items()})}",
            f"output = {_lit(output)}",
            f"steps = {_array(builder.steps)}",
            "",
        ]
        return "\n".join([*header, *concept_tables, "\n".join(main), *builder.pipes])

    output_domain = "native" if final.concept in NATIVES else domain
    return GeneratedBundle(
        text=text_with(final.spec(optional=optional)),
        required_output_text=text_with(final.spec()) if optional else None,
        entry_ref=f"{domain}.main",
        inputs={name: _caller_value(draw, held) for name, held in declared.items()},
        output_concept=f"{output_domain}.{final.concept}",
        output_is_list=final.is_list,
        output_optional=optional,
        step_kinds=tuple(builder.kinds),
    )
