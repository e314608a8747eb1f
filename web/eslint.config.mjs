import tseslint from 'typescript-eslint';

// TypeScript files of the viewer (src, unit tests, Playwright specs); .vue files are checked by vue-tsc.
export default tseslint.config(
  { ignores: ['dist/**', 'test-results/**', 'screenshots/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
);
