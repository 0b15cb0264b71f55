#!/usr/bin/env bash
# The GPU proof of `make tune TASK=imdb` / `TASK=fashion_mnist`, on JAX (issue 18, item 3).
#
# The GPU machine this project can borrow (one H200) has Python 3.12 with JAX (CUDA), PyTorch,
# numpy, pandas, scikit-learn, matplotlib… but no TensorFlow, no network, and 64 MiB for all
# that travels with the working tree. So:
#
#   bench/gpu_check.sh prepare TASK   # HERE, with the package index: wheels + TASK's data into
#                                     # .gpu/ (git-ignored), sized against the 64 MiB budget
#   bench/gpu_check.sh run TASK       # THERE (device tool, carry .gpu): install the wheels offline,
#                                     # `sweepflow tune TASK --backend jax`, results into $OUT
#
# `run` writes $OUT/gpu_check-TASK.json: wall time, seconds per epoch (from the trial runs),
# peak GPU memory (nvidia-smi, sampled each second), the search run's `device` and `backend`
# tags, and the test metrics. One trial per GPU on a multi-GPU machine: WORKERS=<gpus> with
# CUDA_VISIBLE_DEVICES set per worker (README, "Many workers"); this check uses one.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: bench/gpu_check.sh prepare|run TASK}
task=${2:?usage: bench/gpu_check.sh prepare|run TASK}
gpu=.gpu
budget_mib=64
data_src=${SWEEPFLOW_DATA_DIR:-../shared/data}

# What the GPU machine lacks: the lock minus the packages its image holds (device/KINDS.md) and
# minus what a JAX run never imports (TensorFlow, Keras Tuner, PostgreSQL/Redis clients, the
# optuna-dashboard, dev tools).
lacking() {
  grep -v '^#' requirements.lock | grep -Eiv '^(tensorflow|tensorboard|keras-tuner|kt-legacy|ruff|pytest|libclang|gast|google-pasta|astunparse|termcolor|optuna-dashboard|bottle|psycopg2?(-binary)?|asyncpg|docker|gunicorn|huey|databricks-sdk|google-auth|pyasn1|rsa|skops|numpy|pandas|scipy|scikit-learn|matplotlib|jax|jaxlib|ml.dtypes|opt.einsum|h5py|rich|pyyaml|requests|urllib3|idna|certifi|charset|httpx|httpcore|h11|anyio|click|packaging|protobuf|absl|grpcio|jinja2|markupsafe|markdown|werkzeug|six|python-dateutil|typing|attrs|cloudpickle|pyarrow|joblib|threadpoolctl|contourpy|cycler|fonttools|kiwisolver|pillow|pyparsing|narwhals|pygments|mdurl|markdown-it|aiohttp|aiosignal|frozenlist|multidict|yarl|propcache|aiohappyeyeballs|psutil|filelock|fsspec|tqdm|wrapt|zipp|sortedcontainers|toolz|shellingham|typer|annotated-doc|tabulate|prometheus|uvloop|setuptools|wheel|pip)[=_-]' \
    || true
}

case "$what" in
prepare)
  rm -rf "$gpu" && mkdir -p "$gpu/wheels" "$gpu/data"
  grep -qx "/$gpu/" .git/info/exclude 2>/dev/null || echo "/$gpu/" >>.git/info/exclude
  lacking >"$gpu/requirements.txt"
  .venv/bin/pip download -q --no-deps --only-binary=:all: --implementation cp \
    --python-version 3.12 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 -d "$gpu/wheels" -r "$gpu/requirements.txt"
  case "$task" in
  imdb) tar -C "$data_src" -czf "$gpu/data/aclImdb.tgz" --exclude='*/unsup/*' \
          --exclude='*.feat' --exclude='*urls_*' aclImdb/train aclImdb/test ;;
  fashion_mnist) mkdir -p "$gpu/data/keras/datasets" \
          && cp -r "$data_src/keras/datasets/fashion-mnist" "$gpu/data/keras/datasets/" ;;
  *) echo "gpu_check: prepare knows imdb and fashion_mnist" >&2; exit 2 ;;
  esac
  wheels=$(du -sm "$gpu/wheels" | cut -f1); data=$(du -sm "$gpu/data" | cut -f1)
  tree=$(git ls-files | xargs du -cm 2>/dev/null | tail -1 | cut -f1)
  total=$((wheels + data + tree))
  echo "gpu_check: $(ls "$gpu/wheels" | wc -l) wheels ${wheels} MiB + $task data ${data} MiB" \
       "+ tree ${tree} MiB = ${total} MiB of ${budget_mib}"
  [ "$total" -le "$budget_mib" ] || { echo "gpu_check: over the ${budget_mib} MiB carry limit" >&2; exit 3; }
  ;;
run)
  out=${OUT:-bench/results}
  python3 -m pip install -q --no-index --no-deps --find-links "$gpu/wheels" -r "$gpu/requirements.txt"
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .
  data=$(mktemp -d)
  [ -f "$gpu/data/aclImdb.tgz" ] && tar -C "$data" -xzf "$gpu/data/aclImdb.tgz"
  [ -d "$gpu/data/keras" ] && cp -r "$gpu/data/keras" "$data/"
  (while sleep 1; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) \
    >"$out/gpu_memory-$task.txt" 2>/dev/null &
  sampler=$!
  start=$(date +%s)
  SWEEPFLOW_DATA_DIR="$data" KERAS_HOME="$data/keras" XLA_PYTHON_CLIENT_PREALLOCATE=false \
    python3 -m sweepflow tune "$task" --backend jax --store "$data/store" --data-dir "$data" \
    2>&1 | tee "$out/gpu_check-$task.log"
  wall=$(( $(date +%s) - start ))
  kill "$sampler" || true
  python3 - "$data/store" "$task" "$wall" "$out" <<'EOF'
import json, sys
from mlflow import MlflowClient
store, task, wall, out = sys.argv[1:]
client = MlflowClient(f"sqlite:///{store}/mlflow.db")
exp = client.get_experiment_by_name(task).experiment_id
(parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'", max_results=1)
epoch_s = []
for run in client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"):
    stamps = sorted(m.timestamp for m in client.get_metric_history(run.info.run_id, "loss"))
    if len(stamps) > 2:
        epoch_s.append((stamps[-1] - stamps[1]) / 1000 / (len(stamps) - 2))
mem = [int(x) for x in open(f"{out}/gpu_memory-{task}.txt").read().split() if x.isdigit()]
result = {
    "task": task, "wall_s": int(wall), "device": parent.data.tags.get("device"),
    "backend": parent.data.tags.get("backend"),
    "s_per_epoch_median": sorted(epoch_s)[len(epoch_s) // 2] if epoch_s else None,
    "peak_gpu_mib": max(mem) if mem else None,
    "test": {k: v for k, v in parent.data.metrics.items() if k.startswith("test_")},
}
json.dump(result, open(f"{out}/gpu_check-{task}.json", "w"), indent=1)
print(result)
EOF
  ;;
*) echo "usage: bench/gpu_check.sh prepare|run TASK" >&2; exit 2 ;;
esac
