{
  "targets": [
    {
      "target_name": "sotto_net",
      "sources": ["sotto_net.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    }
  ]
}
