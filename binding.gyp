# node-gyp build of the addon: the same sources as CMakeLists.txt, built
# into build/Release/torchdog.node. CMake + cmake-js stays the primary build
# (package.json's "install" script); this one is for environments that only
# have node-gyp. Check it with scripts/check-gyp-build.sh.
#
# LibTorch location (default: Debian's libtorch-dev, headers in /usr/include,
# libraries in /usr/lib/<multiarch>), from the environment at configure time:
#   LIBTORCH=/opt/libtorch       a LibTorch tree with include/ and lib/
#   LIBTORCH_INCLUDE=...         the include/ directory, overriding LIBTORCH
#   LIBTORCH_LIB=...             the lib/ directory, overriding LIBTORCH
#   LIBTORCH_CXX11_ABI=0|1       _GLIBCXX_USE_CXX11_ABI (default 1; the old
#                                "pre-cxx11 ABI" LibTorch downloads need 0)
# or the same names in lower case as gyp variables:
#   node-gyp rebuild -- -Dlibtorch_lib=/opt/libtorch/lib
# When the library directory holds libtorch_cuda.so (a CUDA LibTorch), that
# and libc10_cuda.so are linked too, so CUDA kernels register.
# Paths must not contain spaces.
{
  'variables': {
    'libtorch_include%': '<!(node -p "process.env.LIBTORCH_INCLUDE || (process.env.LIBTORCH ? require(\'path\').join(process.env.LIBTORCH, \'include\') : \'/usr/include\')")',
    'libtorch_lib%': '<!(node -p "process.env.LIBTORCH_LIB || (process.env.LIBTORCH ? require(\'path\').join(process.env.LIBTORCH, \'lib\') : \'/usr/lib/\' + ({ x64: \'x86_64\', arm64: \'aarch64\' }[process.arch] || process.arch) + \'-linux-gnu\')")',
    'libtorch_cxx11_abi%': '<!(node -p "process.env.LIBTORCH_CXX11_ABI || 1")',
  },
  'targets': [
    {
      'target_name': 'torchdog',
      'sources': [
        'native/addon.cc',
        'native/distributed.cc',
        'native/engine.cc',
        'native/inference_graph.cc',
        'native/onednn_resnet.cc',
        'native/quantized_graph.cc',
        'native/resnet.cc',
        'native/serial_executor.cc',
        'native/torchscript_export.cc',
      ],
      'include_dirs': [
        'native',
        '<!(node -p "require(\'node-addon-api\').include_dir")',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NODE_ADDON_API_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
        'NDEBUG',
        '_GLIBCXX_USE_CXX11_ABI=<(libtorch_cxx11_abi)',
        # What LibTorch's CMake package (Caffe2Targets, glog) adds to its users.
        'USE_DISTRIBUTED',
        'USE_C10D_GLOO',
        'USE_RPC',
        'USE_TENSORPIPE',
        'GFLAGS_IS_A_DLL=0',
        'GLOG_CUSTOM_PREFIX_SUPPORT',
      ],
      # node-gyp's common.gypi compiles without RTTI and exceptions and with
      # -Wextra; LibTorch needs the first two, and its headers are included as
      # system headers so -Wextra only applies to our own code.
      'cflags!': ['-fno-exceptions', '-fno-rtti'],
      'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++1y', '-std=gnu++20'],
      'cflags_cc': [
        '-std=c++17',
        '-fexceptions',
        '-frtti',
        '-isystem<(libtorch_include)/torch/csrc/api/include',
      ],
      'conditions': [
        # -isystem /usr/include would come before libstdc++'s own headers and
        # break its #include_next; /usr/include is a system directory anyway.
        ['libtorch_include!="/usr/include"', {
          'cflags_cc': ['-isystem<(libtorch_include)'],
        }],
      ],
      'ldflags': [
        '-L<(libtorch_lib)',
        # Find LibTorch at run time where it was found at build time, unless
        # that is a directory the dynamic loader searches anyway.
        '<!@(node -p "const p = require(\'path\'), d = p.resolve(\'<(libtorch_lib)\'); [\'/lib\', \'/usr/lib\', \'/lib64\', \'/usr/lib64\'].some((s) => d === s || (p.dirname(d) === s && d.endsWith(\'-linux-gnu\'))) ? \'\' : \'-Wl,-rpath,\' + d")',
      ],
      'libraries': [
        # torch_cpu (and torch_cuda) only register operators from static
        # initialisers, so keep them even though no symbol of ours needs them.
        '-Wl,--no-as-needed',
        '-ltorch',
        '-ltorch_cpu',
        '<!@(node -p "require(\'fs\').existsSync(require(\'path\').join(\'<(libtorch_lib)\', \'libtorch_cuda.so\')) ? \'-ltorch_cuda -lc10_cuda\' : \'\'")',
        '-lc10',
        '-Wl,--as-needed',
        # oneDNN (which LibTorch links too) for the int8 network, when its
        # headers are there (native/onednn_resnet.cc checks the same).
        '<!@(node -p "require(\'fs\').existsSync(\'/usr/include/oneapi/dnnl/dnnl.hpp\') ? \'-ldnnl\' : \'\'")',
      ],
    },
  ],
}
