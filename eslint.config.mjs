// eslint (flat config) with typescript-eslint's recommended, type-aware rules for every
// TypeScript file of the project; `npm run lint`, and a unit test, run it.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["build/**", "node_modules/**", ".lab/**", "components/powerdns/runtime/**"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { project: "./test/tsconfig.json", tsconfigRootDir: import.meta.dirname } },
        rules: {
            // Unused values are compile errors already (tsconfig noUnused*); `_` marks a deliberate one.
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-misused-promises": "error",
            "@typescript-eslint/await-thenable": "error",
            "eqeqeq": ["error", "smart"],
            // `import x = require("...")` for CommonJS modules without types; a bare require()
            // only where the path is computed (say why on the line).
            "@typescript-eslint/no-require-imports": ["error", { allowAsImport: true }],
        },
    },
    {
        // The lab, the offline engine and the suites drive the SDK's untyped internals (mock
        // monitor requests, serialized providers, gRPC messages): `any` is the honest type there.
        // So does the dynamic provider: the SDK types its methods' inputs and PowerDNS's JSON as any.
        files: ["lab/**/*.ts", "test/**/*.ts", "scripts/**/*.ts", "components/powerdns/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
    {
        files: ["**/*.js"],
        // Plain CommonJS (mocha's reporter): require() is how it loads modules.
        languageOptions: { globals: { require: "readonly", module: "writable", process: "readonly", console: "readonly", __dirname: "readonly" } },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
