// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Multicall3
/// @notice The subset of Multicall3 (github.com/mds1/multicall, deployed at
/// 0xcA11bde05977b3631167028862bE2a173976CA11 on most EVM chains) that salvage and viem's `multicall` use.
/// The devnet places this contract's runtime code at the canonical address, so the same reads work on
/// local chains and real ones. Each call may fail on its own (`allowFailure`), so one bad read never sinks
/// the batch.
contract Multicall3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function aggregate3(Call3[] calldata calls) public payable returns (Result[] memory returnData) {
        uint256 length = calls.length;
        returnData = new Result[](length);
        for (uint256 i; i < length; ++i) {
            Call3 calldata c = calls[i];
            (bool success, bytes memory data) = c.target.call(c.callData);
            if (!success && !c.allowFailure) {
                assembly {
                    revert(add(data, 32), mload(data))
                }
            }
            returnData[i] = Result(success, data);
        }
    }

    function getBlockNumber() public view returns (uint256) {
        return block.number;
    }

    function getCurrentBlockTimestamp() public view returns (uint256) {
        return block.timestamp;
    }

    function getEthBalance(address addr) public view returns (uint256) {
        return addr.balance;
    }
}
