"""Execute one notebook on the Deno kernel and export it: python3 cli/execute_notebook.py NOTEBOOK OUT_DIR

Writes OUT_DIR/NAME.ipynb (executed) and OUT_DIR/NAME.html; exits 1 with the failing cell's error if a cell
throws. Called by `deno task notebooks` (cli/notebooks.ts).

Why not plain `jupyter nbconvert --execute`: Deno 2.9's kernel sometimes publishes a cell's result a few
milliseconds after it reports the kernel idle, and nbclient stops listening at idle, so outputs (a figure, an
image) went missing from 5-25% of cells. This client keeps listening for a quarter second after idle, and does
without message signatures (see create_kernel_manager). The same kernel now and then sends a message that does
not decode at all ("Invalid control character" several MB into one message, in 2 of 6 runs of the
large-output notebook 05-attention here, and in one CI run despite one rerun): such a transport failure,
never a failing cell, reruns the notebook on a fresh kernel, up to TRANSPORT_RETRIES times, saying so on stderr.
"""
import json
import pathlib
import queue
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError
from nbclient.util import ensure_async
from nbconvert import HTMLExporter

LATE_OUTPUT_SECONDS = 0.25
TRANSPORT_RETRIES = 3


class LateOutputClient(NotebookClient):
    def create_kernel_manager(self):
        # Deno 2.9's kernel sometimes signs a large output message with an HMAC that jupyter_client rejects
        # ("Invalid Signature", about one run in six of 05-attention), though the message itself is intact (runs
        # without signing give identical outputs every time). So this private kernel, started for one headless
        # run and listening on loopback only, runs without message signing.
        km = super().create_kernel_manager()
        km.session.key = b""
        return km

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        while True:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=LATE_OUTPUT_SECONDS))
            except queue.Empty:
                return
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass


def main():
    source, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(TRANSPORT_RETRIES + 1):
        notebook = nbformat.read(source, as_version=4)
        client = LateOutputClient(notebook, kernel_name="deno", timeout=180,
                                  resources={"metadata": {"path": str(source.parent)}})
        try:
            client.execute()
            break
        except CellExecutionError as error:
            nbformat.write(notebook, out_dir / source.name)  # keep what ran, for reading the failure
            print(str(error)[-3000:], file=sys.stderr)
            sys.exit(1)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:  # a kernel message that does not decode
            if attempt == TRANSPORT_RETRIES:
                raise
            print(f"{source.name}: the kernel sent a message that does not decode ({error}); running it again",
                  file=sys.stderr)
    nbformat.write(notebook, out_dir / source.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / source.with_suffix(".html").name).write_text(html)


if __name__ == "__main__":
    main()
