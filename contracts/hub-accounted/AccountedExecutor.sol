// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// The AccountedHub functions the executor calls (contracts/hub-accounted/AccountedHub.sol).
interface IAccountedHub {
    function assets(uint16 assetId)
        external
        view
        returns (
            address feed,
            uint256 priceScale,
            uint8 decimals,
            IERC20 token,
            uint64 ltv,
            uint64 liquidationThreshold,
            uint32 heartbeat,
            bool listed
        );

    function liquidate(address account, uint16 debtAssetId, uint256 maxRepay, uint32 eid, uint16 collateralAssetId, uint256 minSeize)
        external
        returns (uint256 repayAmount, uint256 seizeAmount);

    function withdraw(uint32 eid, uint16 assetId, uint256 amount, address receiver)
        external
        payable
        returns (uint256 withdrawalId, bytes32 guid);
}

/// @title AccountedExecutor
/// @notice A liquidator's batch executor for the hub-accounted money market: liquidates many accounts in one
/// transaction, each order isolated so that one revert does not sink the rest, and (order by order) withdraws the
/// seized collateral to the receiver on its spoke in the same transaction, or keeps it in this executor's hub
/// position (`withdraw` false) for its owner to withdraw later with `withdrawCollateral`.
///
/// The debt tokens an order repays are pulled from the owner (who approves this contract) and the unused part is
/// returned in the same order; the LayerZero fee of each WITHDRAW comes from msg.value, and whatever is left goes
/// back to the owner at the end. Each order's outcome is an event: `Executed` or `Failed` with the raw revert data,
/// which the relayer decodes by error name.
contract AccountedExecutor {
    using SafeERC20 for IERC20;

    struct Order {
        address account;
        uint16 debtAssetId;
        uint256 maxRepay;
        uint32 eid;
        uint16 collateralAssetId;
        uint256 minSeize;
        /// Withdraw the seized collateral to the receiver on spoke `eid` in the same order.
        bool withdraw;
        /// Native fee of the WITHDRAW message (AccountedHub.quoteWithdraw); zero without a withdrawal.
        uint256 fee;
    }

    IAccountedHub public immutable hub;
    address public immutable owner;

    event Executed(uint256 indexed index, address indexed account, uint256 repayAmount, uint256 seizeAmount, uint256 withdrawalId);
    event Failed(uint256 indexed index, address indexed account, bytes reason);

    error NotOwner();
    error OnlySelf();
    error FeeMismatch(uint256 sent, uint256 needed);

    constructor(IAccountedHub hub_, address owner_) {
        hub = hub_;
        owner = owner_;
    }

    receive() external payable { }

    /// @notice Executes every order in turn; a reverting order is reported and skipped.
    function execute(Order[] calldata orders, address receiver) external payable {
        if (msg.sender != owner) revert NotOwner();
        uint256 needed;
        for (uint256 i; i < orders.length; ++i) {
            if (orders[i].withdraw) needed += orders[i].fee;
        }
        if (msg.value != needed) revert FeeMismatch(msg.value, needed);
        for (uint256 i; i < orders.length; ++i) {
            Order calldata o = orders[i];
            try this.executeOne{ value: o.withdraw ? o.fee : 0 }(o, receiver) returns (
                uint256 repayAmount, uint256 seizeAmount, uint256 withdrawalId
            ) {
                emit Executed(i, o.account, repayAmount, seizeAmount, withdrawalId);
            } catch (bytes memory reason) {
                emit Failed(i, o.account, reason);
            }
        }
        uint256 left = address(this).balance;
        if (left != 0) {
            (bool ok,) = owner.call{ value: left }("");
            ok; // An owner that refuses ETH keeps it here; it is returned with the next batch.
        }
    }

    /// @dev One order, called by `execute` on itself so that everything it did reverts together.
    function executeOne(Order calldata o, address receiver)
        external
        payable
        returns (uint256 repayAmount, uint256 seizeAmount, uint256 withdrawalId)
    {
        if (msg.sender != address(this)) revert OnlySelf();
        (,,, IERC20 token,,,,) = hub.assets(o.debtAssetId);
        token.safeTransferFrom(owner, address(this), o.maxRepay);
        if (token.allowance(address(this), address(hub)) < o.maxRepay) token.forceApprove(address(hub), type(uint256).max);
        (repayAmount, seizeAmount) = hub.liquidate(o.account, o.debtAssetId, o.maxRepay, o.eid, o.collateralAssetId, o.minSeize);
        if (o.maxRepay > repayAmount) token.safeTransfer(owner, o.maxRepay - repayAmount);
        if (o.withdraw) (withdrawalId,) = hub.withdraw{ value: msg.value }(o.eid, o.collateralAssetId, seizeAmount, receiver);
    }

    /// @notice Withdraws collateral this executor holds on the hub (kept there by orders without `withdraw`).
    function withdrawCollateral(uint32 eid, uint16 assetId, uint256 amount, address receiver)
        external
        payable
        returns (uint256 withdrawalId, bytes32 guid)
    {
        if (msg.sender != owner) revert NotOwner();
        return hub.withdraw{ value: msg.value }(eid, assetId, amount, receiver);
    }
}
