{
  # podbrain_faiss, our small N-API binding used by src/index (HNSW/IVF parameters, async
  # calls), against Debian's libfaiss (static, PIC) + OpenBLAS + LAPACK + OpenMP.
  'variables': {
    'napi_dir': '<!(node -p "require(\'path\').dirname(require.resolve(\'node-addon-api/package.json\'))")',
  },
  'target_defaults': {
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti'],
    'cflags_cc': ['-std=c++17', '-fexceptions', '-frtti', '-fopenmp', '-O2'],
    'include_dirs': ['<(napi_dir)'],
    'defines': ['NAPI_VERSION=6', 'NAPI_CPP_EXCEPTIONS'],
    'libraries': ['-lfaiss', '-lopenblas', '-llapack', '-lgomp', '-fopenmp'],
  },
  'targets': [
    {
      'target_name': 'podbrain_faiss',
      'sources': ['src/podbrain_faiss.cc'],
    },
  ],
}
