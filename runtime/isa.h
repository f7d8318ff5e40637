/* Internal: the spelling of per-instruction-set clones, so that the files
 * that clone kernels for AVX-512 and AVX2 (kernels.c, rng.c, ops_rnn.c) also
 * compile for other targets (WebAssembly). On x86, VARIA_TARGET(s) compiles
 * a function for the features s and VARIA_CPU_HAS(f) asks the CPU whether it
 * has feature f. Elsewhere the attribute is empty (the clone compiles as a
 * plain copy of the baseline code) and no CPU has the x86 features, so the
 * dispatchers pick their generic (or own target's) kernels and never the
 * clones. */
#ifndef VARIA_ISA_H
#define VARIA_ISA_H

#if defined(__x86_64__) || defined(__i386__)
#define VARIA_TARGET(s) __attribute__((target(s)))
#define VARIA_CPU_HAS(f) __builtin_cpu_supports(f)
#else
#define VARIA_TARGET(s)
#define VARIA_CPU_HAS(f) 0
#endif

#endif
