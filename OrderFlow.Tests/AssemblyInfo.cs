// Tests run one at a time: several start hosts, brokers and processes, and the machine has 2 cores.
[assembly: NUnit.Framework.NonParallelizable]
