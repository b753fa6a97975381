/* A stand-in for libnvidia-ml.so.1 with two GPUs, an H100 and an H200, for tests of the
 * agent's dlopen-based NVML reader. The energy counters advance by a fixed step on every
 * read; FAKE_NVML_WRAP is not a thing NVML does (its counter is 64-bit). */
#include <string.h>

typedef int nvmlReturn_t;
typedef struct fake_device { int index; } *nvmlDevice_t;
static struct fake_device devices[2] = {{0}, {1}};
static unsigned long long energy[2] = {1000000ULL, 5000000ULL};

nvmlReturn_t nvmlInit_v2(void) { return 0; }
nvmlReturn_t nvmlShutdown(void) { return 0; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) { *count = 2; return 0; }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
    if (i > 1) return 2;
    *d = &devices[i];
    return 0;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len) {
    strncpy(name, d->index == 0 ? "NVIDIA H100 80GB HBM3" : "NVIDIA H200", len);
    return 0;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len) {
    strncpy(uuid, d->index == 0 ? "GPU-00000000-0000-4000-8000-000000000100" : "GPU-00000000-0000-4000-8000-000000000200", len);
    return 0;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, unsigned long long *mem) {
    mem[0] = d->index == 0 ? 85520809984ULL : 150754820096ULL; /* total */
    mem[1] = 1024; /* free */
    mem[2] = d->index == 0 ? 1073741824ULL : 0; /* used */
    return 0;
}
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, unsigned int *u) { u[0] = d->index == 0 ? 87 : 0; u[1] = 10; return 0; }
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) { *mw = d->index == 0 ? 612000 : 75000; return 0; }
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj) {
    energy[d->index] += d->index == 0 ? 700 : 100;
    *mj = energy[d->index];
    return 0;
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    *current = d->index == 1; *pending = *current;
    return 0;
}
