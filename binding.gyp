{
  "targets": [
    {
      "target_name": "tsne_native",
      "sources": ["native/tsne_native.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
