#!/usr/bin/env bash
# The wgpu check run on a lent GPU machine (see docs/perf.md, "On a GPU"): the wgpu test
# binary, then `denovo fit` on ndarray and wgpu. The machine has no network and no Rust, so
# everything is built here and carried (git-ignored folders .gl and .gpu):
#   cargo build --release -p denovo --features wgpu
#   cargo test -p denovo-nn --features wgpu --test wgpu --no-run
#   strip + gzip both binaries into .gpu/ (denovo.gz, wgpu_test.gz), copy this script there;
#   .gl/: the Vulkan/GL loader debs (libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0
#   libgles2); .gpu/libs/: libfontconfig1 libfreetype6 libpng16-16 libbrotli1 libexpat1
#   zlib1g (plotters links fontconfig), all from `apt-get download`.
# Then: device run `bash .gpu/check.sh` with carry [".gl", ".gpu"].
set -u
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
if [ -z "${LOCAL:-}" ]; then for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; fi
mkdir -p /tmp/libs; for f in .gpu/libs/*.deb; do dpkg -x $f /tmp/libs; done; export LD_LIBRARY_PATH=/tmp/libs/usr/lib/x86_64-linux-gnu:/tmp/libs/lib/x86_64-linux-gnu
cd .gpu; for f in *.gz; do [ -e "$f" ] && gunzip -f "$f"; done; chmod +x denovo wgpu_test
export XDG_RUNTIME_DIR=/tmp
nvidia-smi -L 2>&1
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi
(nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader -lms 250 > $OUT/smi.csv 2>&1 &)
if [ -z "${SKIP_TESTS:-}" ]; then echo "=== wgpu tests"
VK_LOADER_DEBUG=driver timeout 300 ./wgpu_test --test-threads 1 > $OUT/wgpu_test.log 2>&1; echo "rc=$?"
grep -iE "test |result|panicked|nvidia|lvp|Loading (driver|ICD)" $OUT/wgpu_test.log | sort | uniq -c | sort -rn | head -30
fi
./denovo --version
TIMEFORMAT='%R s'
./denovo simulate --rule reinforce --animals 12 --trials 300 --seed 1 --out s.csv > /dev/null
./denovo simulate --rule reinforce --animals 12 --trials 10000 --seed 1 --out big.csv > /dev/null
for b in ndarray wgpu; do
  echo "=== $b: dnn, generic path, 12x300, 3 epochs"; time ./denovo fit s.csv --model dnn --generic --backend $b --epochs 3 --out g_$b 2>&1 | grep -v XDG | tail -1
  echo "=== $b: rnn, generic path, 12x300, 2 epochs"; time ./denovo fit s.csv --model rnn --generic --backend $b --epochs 2 --out gr_$b 2>&1 | grep -v XDG | tail -1
  echo "=== $b: dnn, fused, 12x10000, 20 epochs"; time ./denovo fit big.csv --model dnn --backend $b --epochs 20 --out f_$b 2>&1 | grep -v XDG | tail -1
done
pkill -f "nvidia-smi --query" || true
echo "=== GPU memory used (MiB), max over the run:"; awk -F, '{gsub(/ MiB/,"",$2); if ($2+0>m) m=$2+0} END {print m}' $OUT/smi.csv
cp g_wgpu/fit.toml $OUT/ 2>/dev/null; ls g_wgpu f_wgpu
