{
  # Two addons against Debian's libfaiss (static, PIC) + OpenBLAS + LAPACK + OpenMP:
  #  - faiss-node: faiss-node's own source, unchanged, so `require('faiss-node')` works
  #    (its install script downloads prebuilt faiss from GitHub and is disabled here);
  #  - podbrain_faiss: our small binding used by src/search (HNSW/IVF parameters).
  'variables': {
    # relative: gyp's make generator mishandles absolute source paths
    'faiss_node_dir': '<!(node -p "require(\'path\').relative(process.cwd(), require(\'path\').dirname(require.resolve(\'faiss-node/package.json\')))")',
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
    {
      'target_name': 'faiss-node',
      'sources': ['<(faiss_node_dir)/src/faiss.cc'],
      'cflags_cc': ['-include', '<(module_root_dir)/src/idx_t_compat.h'],
    },
  ],
}
