"""scikit-learn reference for bench/tsne.ts: TSNE() with its defaults on the points in a raw float32 file.
Optional (Debian's python3-sklearn); never a dependency. Usage: reference_tsne.py IN.bin N DIM OUT.bin
Prints the wall time in seconds and writes the n x 2 embedding as float32."""
import sys, time
import numpy as np
from sklearn.manifold import TSNE

path, n, dim, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
x = np.fromfile(path, dtype='<f4').reshape(n, dim)
t = time.time()
e = TSNE(random_state=0).fit_transform(x)
print(time.time() - t)
e.astype('<f4').tofile(out)
