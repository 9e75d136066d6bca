"""TypeScript types generated from ``openapi.yaml`` compile client code under ``tsc --strict``.

openapi-typescript made defaulted fields of the submit body required (TS2739 on a minimal submit)
and a PATCH body carried defaults; a field the server always sends must not be optional either.
The tools are pinned in ``tests/sdk/typescript/package-lock.json`` and installed by ``make test``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.sdk.conftest import OPENAPI

TOOLS = Path(__file__).resolve().parent / "typescript"
BIN = TOOLS / "node_modules" / ".bin"

CLIENT_CODE = """
import type { components, paths } from "./pylon";

type Schemas = components["schemas"];

// Submit with only the required fields; the defaulted ones stay optional.
const minimal: Schemas["WorkloadInputRequest"] = {
  workload_name: "nightly",
  host_dc: "3f2b6c1e-0000-4000-8000-000000000000",
};
// A rename sends the name alone.
const rename: Schemas["PatchedWorkloadInputRequest"] = { workload_name: "renamed" };
// Unknown keys are refused by the server, and by the types.
// @ts-expect-error additionalProperties: false
const unknown: Schemas["WorkloadInputRequest"] = { workload_name: "x", host_dc: "y", colour: "red" };

// List: two statuses, a bounded page, an ordering from the enum.
type ListQuery = NonNullable<paths["/api/v1/workloads/"]["get"]["parameters"]["query"]>;
const query: ListQuery = { status: ["PENDING", "SCHEDULED"], page_size: 50, ordering: ["-submitted_at"] };
type Page = paths["/api/v1/workloads/"]["get"]["responses"]["200"]["content"]["application/json"];

// Fields the server always sends are not optional: no undefined to handle.
function summary(page: Page): string {
  const next: string | null = page.next;
  const names: string[] = page.results.map((w) => `${w.workload_name} ${w.urgency} ${w.status}`);
  return `${page.count} ${next ?? "-"} ${names.join(",")}`;
}

export { minimal, rename, unknown, query, summary };
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed: the TypeScript check needs it")
def test_generated_types_compile_submit_and_list_under_strict(tmp_path):
    if not (BIN / "tsc").exists() or not (BIN / "openapi-typescript").exists():
        pytest.skip("tools not installed: run `make sdk-tools` (make test does)")
    subprocess.run(
        [str(BIN / "openapi-typescript"), str(OPENAPI), "--output", str(tmp_path / "pylon.ts")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (tmp_path / "client.ts").write_text(CLIENT_CODE)
    compiled = subprocess.run(
        [
            str(BIN / "tsc"),
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--module",
            "es2022",
            str(tmp_path / "client.ts"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
