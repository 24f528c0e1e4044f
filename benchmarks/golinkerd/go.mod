module topology-engine/benchmarks/golinkerd

go 1.19
