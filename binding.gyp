{
  "targets": [
    {
      "target_name": "ae_native",
      "sources": ["native/ae_native.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-ffp-contract=fast", "-Wno-psabi", "-fno-math-errno", "-fno-trapping-math"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
